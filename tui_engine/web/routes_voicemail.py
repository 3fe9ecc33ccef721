"""Voicemail in the portal: ``GET /api/voicemail`` (a mailbox's messages),
``GET /api/voicemail/{mailbox}/{id}/audio`` (one message as WAV) and
``DELETE /api/voicemail/{mailbox}/{id}`` (CSRF; audited). docs/web-api.md has the shapes.

A portal user's mailbox is their user name: the phone's PIN login checks the mailbox number
against the same user store (``wiring._pin_verifier``), so user ``201`` with a PIN owns mailbox 201.
A user sees (and deletes) only their own mailbox's messages; an admin may name any
(``?mailbox=201``). Reading is read-only (listening in the portal does not make a message old).
Every route sits behind the data routes' guard (session, lock, CSRF on DELETE). The store's file
work runs in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from tui_engine.voicemail import Message, VoicemailStore, valid_mailbox
from tui_engine.web import audit
from tui_engine.web.responses import error
from tui_engine.web.routes_data import caller
from tui_engine.web.sessions import Current
from tui_engine.web.store import ADMIN, Store

Handler = Callable[[web.Request, Current], Awaitable[web.StreamResponse]]
Guard = Callable[[Handler], Callable[[web.Request], Awaitable[web.StreamResponse]]]


def message_json(message: Message) -> dict[str, object]:
    return {
        "id": message.id, "from": message.caller, "received": message.received,
        "length": message.length, "new": message.new,
    }


class VoicemailRoutes:
    def __init__(self, store: VoicemailStore, guard: Guard, audit_store: Store | None = None) -> None:
        self.store = store
        self.guard = guard
        self.audit_store = audit_store  # the portal's user store: deletions go to its audit log

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api/voicemail", self.guard(self.list)),
            web.get("/api/voicemail/{mailbox}/{id}/audio", self.guard(self.audio)),
            web.delete("/api/voicemail/{mailbox}/{id}", self.guard(self.delete)),
        ]

    def _mailbox(self, request: web.Request, wanted: str | None) -> str | web.Response:
        """The mailbox this request may read, or the refusal."""
        user = caller(request)
        mailbox = wanted or user.username
        if mailbox != user.username and user.role != ADMIN:
            return error(403, "forbidden", role=user.role)
        if not valid_mailbox(mailbox):
            return error(400, "invalid-request", field="mailbox", message="not a mailbox name")
        return mailbox

    async def list(self, request: web.Request, cur: Current) -> web.Response:
        mailbox = self._mailbox(request, request.query.get("mailbox"))
        if isinstance(mailbox, web.Response):
            return mailbox
        messages = await asyncio.to_thread(self.store.messages, mailbox)
        return web.json_response({
            "mailbox": mailbox, "new": sum(1 for m in messages if m.new),
            "messages": [message_json(m) for m in messages],
        })

    def _message(self, request: web.Request) -> tuple[str, str] | web.Response:
        """The ``{mailbox}/{id}`` of the URL this request may touch, or the refusal."""
        mailbox = self._mailbox(request, request.match_info["mailbox"])
        if isinstance(mailbox, web.Response):
            return mailbox
        message_id = request.match_info["id"]
        return (mailbox, message_id) if valid_mailbox(message_id) else error(404, "not-found")

    async def delete(self, request: web.Request, cur: Current) -> web.Response:
        target = self._message(request)
        if isinstance(target, web.Response):
            return target
        mailbox, message_id = target
        if not await asyncio.to_thread(self.store.delete, mailbox, message_id):
            return error(404, "not-found")
        if self.audit_store is not None:
            await audit.record(
                self.audit_store, "voicemail_deleted", user=mailbox, actor=caller(request).username,
                message=message_id,
            )
        return web.json_response({"deleted": message_id})

    async def audio(self, request: web.Request, cur: Current) -> web.StreamResponse:
        target = self._message(request)
        if isinstance(target, web.Response):
            return target
        mailbox, message_id = target
        message = await asyncio.to_thread(self.store.message, mailbox, message_id)
        if message is None or not message.audio.is_file():
            return error(404, "not-found")
        return web.FileResponse(message.audio, headers={
            "Content-Type": "audio/wav", "Cache-Control": "no-store",
            "Content-Disposition": f'attachment; filename="voicemail-{mailbox}-{message_id}.wav"',
        })
