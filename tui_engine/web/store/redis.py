"""The shared store for several web nodes: ``redis.asyncio`` with Lua scripts for every
conditional write.

A Lua script runs atomically on the Redis server, so the compare-and-set behind
``lock_if_idle`` / ``touch`` / ``unlock_and_rotate`` is decided once for all nodes: when two
engines' timers wake at the same deadline, exactly one script call sees ``locked == 0`` and
locks; the other gets 0 and only re-reads. Times are wall-clock epoch seconds (see records.py).
"""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis

from tui_engine.web.store.base import AUDIT_MAX_EVENTS, UserExists
from tui_engine.web.store.records import ADMIN, AuditEntry, SessionRecord, UserRecord

_P = "tui:"
_SESSIONS = _P + "sessions"  # set of open session hashes
_USERS = _P + "users"
_AUDIT = _P + "audit"  # list of JSON events, newest first
_AUDIT_SEQ = _P + "audit:seq"
MAX_CONNECTIONS = 32

_TOUCH = """
local k = KEYS[1]
if redis.call('EXISTS', k) == 0 then return 0 end
local v = redis.call('HMGET', k, 'locked', 'closed', 'anchor')
if v[1] ~= '0' or v[2] ~= '0' or tonumber(v[3]) < tonumber(ARGV[2]) then return 0 end
if tonumber(ARGV[1]) > tonumber(v[3]) then redis.call('HSET', k, 'anchor', ARGV[1]) end
return 1
"""

# (a ``progress`` field of sessions written by older versions is ignored: requests are no
# longer progress, and a count left by a killed engine must not hold any lock off)
_LOCK_IF_IDLE = """
local k = KEYS[1]
if redis.call('EXISTS', k) == 0 then return 0 end
local v = redis.call('HMGET', k, 'locked', 'closed', 'anchor')
if v[1] ~= '0' or v[2] ~= '0' or tonumber(v[3]) ~= tonumber(ARGV[1]) then
  return 0
end
redis.call('HSET', k, 'locked', '1', 'locked_at', ARGV[2])
return 1
"""

_AUDIT_APPEND = """
local id = redis.call('INCR', KEYS[2])
local e = cjson.decode(ARGV[1])
e['id'] = id
redis.call('LPUSH', KEYS[1], cjson.encode(e))
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
return id
"""

_LOGIN_FAILED = """
local n = redis.call('HINCRBY', KEYS[1], 'count', 1)
redis.call('HSET', KEYS[1], 'last_at', ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
local want = math.ceil(tonumber(ARGV[2]) * 1000)
if ttl < want then redis.call('PEXPIRE', KEYS[1], want) end
return n
"""

_BLOCK_LOGIN = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local cur = tonumber(redis.call('HGET', KEYS[1], 'blocked_until') or '0')
if tonumber(ARGV[1]) > cur then redis.call('HSET', KEYS[1], 'blocked_until', ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
local want = math.ceil(tonumber(ARGV[2]) * 1000)
if ttl < want then redis.call('PEXPIRE', KEYS[1], want) end
return 1
"""

_UNLOCK_AND_ROTATE = """
local old, new = KEYS[1], KEYS[2]
if redis.call('EXISTS', old) == 0 then return 0 end
local v = redis.call('HMGET', old, 'locked', 'closed')
if v[1] ~= '1' or v[2] ~= '0' then return 0 end
redis.call('HSET', old, 'locked', '0', 'locked_at', '', 'failures', '0', 'anchor', ARGV[1])
redis.call('HSET', old, 'id_hash', ARGV[2])
redis.call('RENAME', old, new)
redis.call('SREM', KEYS[3], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[2])
return 1
"""

_CLOSE = """
local k = KEYS[1]
if redis.call('EXISTS', k) == 0 then return 0 end
if redis.call('HGET', k, 'closed') ~= '0' then return 0 end
redis.call('HSET', k, 'closed', '1', 'close_reason', ARGV[1])
redis.call('EXPIRE', k, 86400)  -- a closed session answers "closed" for a day, then "none"
redis.call('SREM', KEYS[2], ARGV[2])
return 1
"""


def _skey(id_hash: str) -> str:
    return f"{_P}s:{id_hash}"


def _ukey(username: str) -> str:
    return f"{_P}u:{username}"


def _tkey(name: str) -> str:
    return f"{_P}t:{name}"


def _opt_float(v: str | None) -> float | None:
    return float(v) if v else None


def _session(h: dict[str, str]) -> SessionRecord:
    return SessionRecord(
        id_hash=h["id_hash"], username=h["username"], app=h["app"], verifier=h["verifier"],
        csrf=h["csrf"], created_at=float(h["created_at"]), anchor=float(h["anchor"]),
        locked=h["locked"] == "1", locked_at=_opt_float(h.get("locked_at")),
        failures=int(h["failures"]), closed=h["closed"] == "1",
        close_reason=h.get("close_reason") or None,
    )


def _user(h: dict[str, str]) -> UserRecord:
    return UserRecord(
        username=h["username"], password_hash=h["password_hash"],
        password_changed_at=float(h["password_changed_at"]), pin_hash=h.get("pin_hash") or None,
        created_at=float(h.get("created_at", "0")),
        role=h.get("role") or ADMIN,  # users from before roles (migrate_roles writes it back)
    )


def _audit(raw: str) -> AuditEntry:
    e = json.loads(raw)
    return AuditEntry(
        id=int(e["id"]), at=float(e["at"]), event=e["event"], user=e.get("user"), actor=e.get("actor"),
        session=e.get("session"), remote=e.get("remote"), details=e.get("details") or {},
    )


class RedisStore:
    def __init__(self, url: str) -> None:
        self.url = url
        # redis-py types command results as ``Awaitable[T] | T`` (one class serves sync and
        # async) and values as ``bytes | str`` even with decode_responses; ``Any`` here and
        # explicit conversions below are clearer than a cast on every call.
        # A *blocking* pool: when many sessions reach their deadline at once (hundreds of
        # timers waking together) commands wait for a free connection instead of failing
        # with "Too many connections".
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=MAX_CONNECTIONS, timeout=30, decode_responses=True
        )
        self._r: Any = aioredis.Redis.from_pool(pool)
        self._touch = self._r.register_script(_TOUCH)
        self._lock = self._r.register_script(_LOCK_IF_IDLE)
        self._audit_append = self._r.register_script(_AUDIT_APPEND)
        self._login_failed = self._r.register_script(_LOGIN_FAILED)
        self._block_login = self._r.register_script(_BLOCK_LOGIN)
        self._migrated = False
        self._unlock = self._r.register_script(_UNLOCK_AND_ROTATE)
        self._close = self._r.register_script(_CLOSE)

    async def _int(self, script: Any, keys: list[str], args: list[object]) -> int:
        return int(await script(keys=keys, args=args))

    # -- users ------------------------------------------------------------------------
    async def migrate_roles(self) -> None:
        """Users stored before roles existed become admins, written back once per process."""
        if self._migrated:
            return
        for name in await self._r.smembers(_USERS):
            await self._r.hsetnx(_ukey(name), "role", ADMIN)
        self._migrated = True

    async def get_user(self, username: str) -> UserRecord | None:
        h: dict[str, str] = await self._r.hgetall(_ukey(username))
        return _user(h) if h else None

    async def list_users(self) -> list[UserRecord]:
        await self.migrate_roles()
        names: set[str] = await self._r.smembers(_USERS)
        users = [await self.get_user(n) for n in sorted(names)]
        return [u for u in users if u is not None]

    async def create_user(self, user: UserRecord) -> None:
        if not await self._r.hsetnx(_ukey(user.username), "username", user.username):
            raise UserExists(user.username)
        mapping = {
            "password_hash": user.password_hash, "password_changed_at": repr(user.password_changed_at),
            "pin_hash": user.pin_hash or "", "created_at": repr(user.created_at), "role": user.role,
        }
        await self._r.hset(_ukey(user.username), mapping=mapping)
        await self._r.sadd(_USERS, user.username)

    async def set_password(self, username: str, password_hash: str, changed_at: float) -> bool:
        if not await self._r.exists(_ukey(username)):
            return False
        mapping = {"password_hash": password_hash, "password_changed_at": repr(changed_at)}
        await self._r.hset(_ukey(username), mapping=mapping)
        return True

    async def set_pin(self, username: str, pin_hash: str) -> bool:
        if not await self._r.exists(_ukey(username)):
            return False
        await self._r.hset(_ukey(username), "pin_hash", pin_hash)
        return True

    async def set_role(self, username: str, role: str) -> bool:
        if not await self._r.exists(_ukey(username)):
            return False
        await self._r.hset(_ukey(username), "role", role)
        return True

    # -- sessions ---------------------------------------------------------------------
    async def create_session(self, session: SessionRecord) -> None:
        s = session
        mapping = {
            "id_hash": s.id_hash, "username": s.username, "app": s.app, "verifier": s.verifier,
            "csrf": s.csrf, "created_at": repr(s.created_at), "anchor": repr(s.anchor),
            "locked": "1" if s.locked else "0", "locked_at": "" if s.locked_at is None else repr(s.locked_at),
            "failures": str(s.failures), "closed": "1" if s.closed else "0",
            "close_reason": s.close_reason or "",
        }
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hset(_skey(s.id_hash), mapping=mapping)
            pipe.sadd(_SESSIONS, s.id_hash)
            await pipe.execute()

    async def get_session(self, id_hash: str) -> SessionRecord | None:
        h: dict[str, str] = await self._r.hgetall(_skey(id_hash))
        return _session(h) if h else None

    async def open_sessions(self) -> list[SessionRecord]:
        hashes: set[str] = await self._r.smembers(_SESSIONS)
        found = [await self.get_session(h) for h in hashes]
        return [s for s in found if s is not None and not s.closed]

    async def touch(self, id_hash: str, at: float, expected_anchor: float) -> bool:
        return await self._int(self._touch, [_skey(id_hash)], [repr(at), repr(expected_anchor)]) == 1

    async def lock_if_idle(self, id_hash: str, expected_anchor: float, now: float) -> bool:
        return await self._int(self._lock, [_skey(id_hash)], [repr(expected_anchor), repr(now)]) == 1

    async def unlock_and_rotate(self, id_hash: str, new_id_hash: str, now: float) -> bool:
        keys = [_skey(id_hash), _skey(new_id_hash), _SESSIONS]
        return await self._int(self._unlock, keys, [repr(now), new_id_hash, id_hash]) == 1

    async def add_failure(self, id_hash: str) -> int:
        if not await self._r.exists(_skey(id_hash)):
            return 0
        return int(await self._r.hincrby(_skey(id_hash), "failures", 1))

    async def close_session(self, id_hash: str, reason: str) -> bool:
        return await self._int(self._close, [_skey(id_hash), _SESSIONS], [reason, id_hash]) == 1

    async def set_verifier(self, username: str, app: str, verifier: str) -> int:
        n = 0
        for s in await self.open_sessions():
            if s.username == username and s.app == app:
                await self._r.hset(_skey(s.id_hash), "verifier", verifier)
                n += 1
        return n

    async def purge_closed(self, created_before: float) -> None:
        """Nothing to do: closed sessions carry a Redis EXPIRE."""

    # -- audit ------------------------------------------------------------------------
    async def append_audit(self, entry: AuditEntry) -> int:
        e = entry
        raw = json.dumps({
            "at": e.at, "event": e.event, "user": e.user, "actor": e.actor, "session": e.session,
            "remote": e.remote, "details": e.details,
        })
        return await self._int(self._audit_append, [_AUDIT, _AUDIT_SEQ], [raw, AUDIT_MAX_EVENTS])

    async def list_audit(
        self, *, limit: int, before: int | None = None, event: str | None = None, user: str | None = None
    ) -> list[AuditEntry]:
        """Scans the list newest first in pages (an audit list is small next to a SQL index)."""
        found: list[AuditEntry] = []
        page, start = 500, 0
        while len(found) < limit:
            chunk: list[str] = await self._r.lrange(_AUDIT, start, start + page - 1)
            if not chunk:
                break
            start += page
            for e in map(_audit, chunk):
                if (before is None or e.id < before) and (event is None or e.event == event) and (
                    user is None or e.user == user
                ):
                    found.append(e)
                    if len(found) == limit:
                        break
        return found

    # -- login throttling ---------------------------------------------------------------
    async def login_failed(self, name: str, now: float, forget_after: float) -> int:
        return await self._int(self._login_failed, [_tkey(name)], [repr(now), repr(forget_after)])

    async def block_login(self, name: str, until: float) -> None:
        # the key lives at least until the block ends (PEXPIRE is relative: until - now is not
        # known here without a clock, so keep it a day past any block the throttle makes)
        await self._int(self._block_login, [_tkey(name)], [repr(until), repr(86400.0)])

    async def login_blocked_until(self, name: str) -> float | None:
        value: str | None = await self._r.hget(_tkey(name), "blocked_until")
        return float(value) if value else None

    async def login_succeeded(self, name: str) -> None:
        await self._r.delete(_tkey(name))

    async def aclose(self) -> None:
        await self._r.aclose()
