"""The configuration model (pydantic v2): one section per table of the TOML file.

Option names are the TOML names (``sip-listen``); attributes use underscores (``sip_listen``).
Every field carries its meaning (``description``) and what it accepts (``allowed``), which the
error report and docs/configuration.md both use. Unknown options are errors (``extra="forbid"``):
a typo must never silently fall back to a default (the Genesys rule: the option is in the
application's ``[security]`` section, at its default in the template).
"""

from __future__ import annotations

import importlib.util
import ipaddress
import re
import socket
import zoneinfo
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    PrivateAttr,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tui_engine.config.values import (
    DURATION_HELP,
    MINUTES_HELP,
    parse_duration,
    parse_minutes_or_duration,
    parse_port_range,
    rtp_capacity,
    split_host_port,
)
from tui_engine.core.policy import IdlePolicy, call_policy, portal_policy

Duration = Annotated[float, BeforeValidator(parse_duration)]
MinutesOrDuration = Annotated[float, BeforeValidator(parse_minutes_or_duration)]


def _check_listen(value: str) -> str:
    split_host_port(value)
    return value


def _resolver(kind: str) -> AfterValidator:
    """Resolve a relative path against the base the loader put in the validation context.

    ``kind`` is ``data`` or ``dialplans``: both are the config file's directory for a file,
    but differ for the embedded default (``./data`` vs the package's bundled ``dialplans/``).
    """

    def resolve(value: Path, info: ValidationInfo) -> Path:
        base = (info.context or {}).get(kind)
        if value.is_absolute() or base is None:
            return value
        return Path(base) / value

    return AfterValidator(resolve)


def _check_session_expires(value: float) -> float:
    if value != 0 and value < 90:  # RFC 4028 §4: no session interval below 90 seconds
        raise ValueError("must be 0 (off) or at least 90s (RFC 4028 §4)")
    return value


def _check_media_address(value: str) -> str:
    if value:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address") from None
    return value


def _check_store(value: str) -> str:
    if value != "sqlite" and not value.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError('expected "sqlite" or a Redis URL')
    if value != "sqlite" and importlib.util.find_spec("redis") is None:
        # Redis is an extra (SQLite, the default, needs nothing): say which one to install.
        raise ValueError(
            "a Redis URL needs the Redis client, which is not installed: "
            "pip install 'tui-engine[redis]' (or use \"sqlite\")"
        )
    return value


def _check_secret_file(value: str, info: ValidationInfo) -> str:
    """``""`` (requests unsigned) or a readable, non-empty file; relative to the config file."""
    if not value:
        return value
    path = Path(value)
    base = (info.context or {}).get("data")
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    try:
        secret = path.read_bytes().strip()
    except OSError as exc:
        raise ValueError(f"cannot read the secret file {str(path)!r}: {exc.strerror}") from None
    if not secret:
        raise ValueError(f"the secret file {str(path)!r} is empty")
    return str(path)


def _check_http_url(value: str) -> str:
    if value:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected an http:// or https:// URL with a host")
    return value


ListenAddress = Annotated[StrictStr, AfterValidator(_check_listen)]
DtmfMethod = Literal["rfc4733", "info", "inband"]


Language = Annotated[StrictStr, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]+)*$")]


def _check_voice(value: str) -> str:
    # the same shape as tui_engine.media.tts.VOICE_PATTERN (not imported: config stays below media)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)?", value):
        raise ValueError(f"{value!r} is not an espeak-ng voice name")
    return value


def _check_dtmf_methods(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value:
        raise ValueError("at least one DTMF method")
    if len(set(value)) != len(value):
        raise ValueError("each DTMF method at most once")
    return value


def _check_time_zone(value: str) -> str:
    if value == "local":
        return value
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


AppName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]+$")]


def option(default: Any, allowed: str, doc: str, **constraints: Any) -> Any:
    """A field with its meaning and the values it accepts (both shown to users)."""
    return Field(default, description=doc, json_schema_extra={"allowed": allowed}, **constraints)


def _section() -> Any:
    """A sub-section that may be left out: validated from ``{}`` so its defaults (and paths) apply."""
    return Field(default_factory=dict)


class _Section(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=lambda name: name.replace("_", "-"),
        validate_default=True,
    )


class EngineSection(_Section):
    """``[engine]``: the process (listeners, media ports, limits)."""

    sip_listen: ListenAddress = option(
        "127.0.0.1:5060", 'HOST:PORT, e.g. "127.0.0.1:5060"', "SIP listen address (UDP and TCP)."
    )
    http_listen: ListenAddress = option(
        "127.0.0.1:8080", 'HOST:PORT, e.g. "127.0.0.1:8080"', "HTTP listen address: the portal and /metrics."
    )
    data_dir: Annotated[Path, _resolver("data")] = option(
        Path("data"), "a directory path",
        "Where the SQLite user store, voicemail and recordings live; relative to the config file.",
    )
    rtp_ports: Annotated[tuple[int, int], BeforeValidator(parse_port_range)] = option(
        "20000-32767",
        '"FIRST-LAST", e.g. "20000-32767", with at least max-calls even ports',
        "UDP ports for RTP; the even ones are used, one per call.",
    )
    media_address: Annotated[StrictStr, AfterValidator(_check_media_address)] = option(
        "",
        'an IP address, or ""',
        'Address written into SDP (RFC 4566 "c="); "" means the SIP listen address.',
    )
    max_calls: StrictInt = option(
        6000,
        "an integer >= 1, at most the number of even ports in rtp-ports",
        "Concurrent calls; beyond it INVITE gets 503 + Retry-After.",
        ge=1,
    )
    overload_lag: Duration = option(
        "50ms",
        f'{DURATION_HELP}; "0s" turns the check off',
        "Event-loop lag (smoothed) beyond which new INVITEs get 503 + Retry-After, before any media work.",
    )
    max_calls_in_setup: StrictInt = option(
        500,
        "an integer >= 0; 0 turns the check off",
        "Calls in set-up (INVITE taken, ACK not yet in) beyond which new INVITEs get 503 + Retry-After.",
        ge=0,
    )
    max_recordings: StrictInt = option(
        1000,
        "an integer >= 0; 0 refuses every recording",
        "Recordings (record steps, voicemail messages) at once, engine-wide: each holds its audio in "
        "memory; a record step beyond it runs its on-failed and the call goes on.",
        ge=0,
    )
    trusted_networks: tuple[IPvAnyNetwork, ...] = option(
        ("127.0.0.0/8", "::1/128"),
        'a list of networks, e.g. ["127.0.0.0/8", "10.0.0.0/8"]',
        "Sources allowed to send SIP; others get 403 Forbidden.",
    )
    send_silence: StrictBool = option(
        False, "true or false", "Send RTP comfort packets while a call is silent."
    )
    sip_tcp_idle_timeout: Duration = option(
        "120s",
        f"{DURATION_HELP}, from 1s to 24h",
        "A SIP TCP connection quiet this long after whole messages is closed, unless a live call uses it.",
        ge=1,
        le=86400,
    )
    sip_tcp_max_connections: StrictInt = option(
        2048,
        "an integer >= 1",
        "Open SIP TCP connections at most; a connection beyond it is closed at once.",
        ge=1,
    )
    sip_tcp_max_connections_per_source: StrictInt = option(
        256,
        "an integer >= 0 (0: no limit per source)",
        "Open SIP TCP connections from one source address at most; one beyond it is closed at once.",
        ge=0,
    )
    node_name: Annotated[StrictStr, StringConstraints(max_length=64)] = option(
        "",
        'a short name, or "" (HOSTNAME:SIP-PORT)',
        "This engine's name in a cluster: in every log line (node) and in tui-engine status.",
    )

    @field_validator("max_calls")
    @classmethod
    def _ports_for_every_call(cls, value: int, info: ValidationInfo) -> int:
        ports = info.data.get("rtp_ports")  # absent when rtp-ports itself is wrong (reported there)
        if ports is not None and value > (capacity := rtp_capacity(*ports)):
            first, last = ports
            raise ValueError(
                f'rtp-ports = "{first}-{last}" has {capacity} even ports, one per call, so max-calls '
                f"can be at most {capacity}: lower max-calls or widen rtp-ports"
            )
        return value

    @property
    def sip_address(self) -> tuple[str, int]:
        return split_host_port(self.sip_listen)

    @property
    def http_address(self) -> tuple[str, int]:
        return split_host_port(self.http_listen)

    @property
    def node(self) -> str:
        """``node-name``, or ``HOSTNAME:SIP-PORT``: unique per engine even on one machine."""
        return self.node_name or f"{socket.gethostname()}:{self.sip_address[1]}"


class LoggingSection(_Section):
    """``[logging]``: structured log output on stdout."""

    level: Literal["debug", "info", "warning", "error"] = option(
        "info", "debug, info, warning or error", "Lowest level written."
    )
    format: Literal["auto", "json", "console"] = option(
        "auto", "auto, json or console", "auto: console on a terminal, JSON lines otherwise."
    )


class SecuritySection(_Section):
    """``[applications.NAME.security]``: the Genesys-style inactivity options."""

    inactivity_timeout: MinutesOrDuration = option(
        0,
        MINUTES_HELP,
        "Idle time before the session locks (web). An integer counts minutes; 0 disables (default).",
    )
    inactivity_warning: Duration = option(
        "60s", f'{DURATION_HELP}; "0s" for no warning', "Warning shown this long before the lock (web)."
    )
    max_unlock_failures: StrictInt = option(
        5, "an integer >= 1", "Wrong passwords at the lock screen before the session is closed.", ge=1
    )
    session_lifetime: Duration = option(
        "12h", f"{DURATION_HELP}, > 0", "Absolute lifetime of a portal session, active or not.", gt=0
    )
    password_min_length: StrictInt = option(
        12, "an integer >= 8", "Shortest new password the portal and 'tui-engine users' accept.", ge=8
    )
    trusted_proxies: tuple[IPvAnyNetwork, ...] = option(
        (),
        'a list of networks, e.g. ["127.0.0.1/32"]; [] for none',
        "Reverse proxies whose X-Forwarded-Proto/-Host/-For the portal believes (Secure cookie behind TLS).",
    )


class TuiSection(_Section):
    """``[applications.NAME.tui]``: phone-menu timing (FreeSWITCH's shape: 10 s × 3, then goodbye)."""

    no_input_timeout: Duration = option(
        "10s", f"{DURATION_HELP}, > 0", "Silence after a prompt ends before it is replayed.", gt=0
    )
    max_attempts: StrictInt = option(
        3, "an integer >= 1", "No-input attempts; after the last: goodbye and BYE.", ge=1
    )
    max_invalid: StrictInt = option(
        3, "an integer >= 1", "Invalid-input attempts before goodbye and BYE.", ge=1
    )
    inter_digit_timeout: Duration = option(
        "5s", f"{DURATION_HELP}, > 0", "Longest pause between digits of one entry.", gt=0
    )
    barge_in: StrictBool = option(True, "true or false", "A digit stops the prompt that is playing.")
    inband_dtmf: StrictBool = option(
        False, "true or false", "Also detect DTMF tones in the audio (Goertzel), not only RFC 4733/INFO."
    )
    dtmf_methods: Annotated[tuple[DtmfMethod, ...], AfterValidator(_check_dtmf_methods)] = option(
        ("rfc4733", "info", "inband"),
        'a list of "rfc4733", "info", "inband" (each at most once), most preferred first',
        "DTMF methods that count, most preferred first; one digit per key press whatever the phone "
        "sends (the first method heard counts, a more preferred one takes over once heard).",
    )
    answer_delay: Duration = option(
        "0s",
        f"{DURATION_HELP}, at most 30s",
        "Ring this long (180 Ringing) before answering; a CANCEL meanwhile ends the call with 487. "
        '"0s" answers as soon as the media is ready.',
        ge=0,
        le=30,
    )
    bye_allowance: Duration = option(
        "200ms",
        f"{DURATION_HELP}, < 2s",
        "Wait after the goodbye's last frame before the BYE, so the caller's jitter buffer plays it out.",
        lt=2,
    )
    transfer_timeout: Duration = option(
        "30s",
        f"{DURATION_HELP}, > 0",
        "How long a transfer (REFER) may take to report success before the caller is back in the menu.",
        gt=0,
    )
    time_zone: Annotated[StrictStr, AfterValidator(_check_time_zone)] = option(
        "local",
        'an IANA time zone name such as "Europe/Berlin", or "local" (the host\'s)',
        "Time zone of the dialplans' clock variables (time, hour, weekday...) when a dialplan names none.",
    )
    webhook_timeout: Duration = option(
        "5s",
        f"{DURATION_HELP}, > 0",
        "Longest wait for a webhook's answer (a step may set its own); then its on-webhook-failed runs.",
        gt=0,
    )
    webhook_filler_delay: Duration = option(
        "1s",
        f"{DURATION_HELP}",
        "Silence while a webhook is out before its filler prompt plays (and between repeats).",
    )
    webhook_secret_file: Annotated[StrictStr, AfterValidator(_check_secret_file)] = option(
        "",
        'a path to a readable, non-empty file, or "" (requests unsigned)',
        "File holding the HMAC-SHA256 key that signs webhook and status-webhook requests "
        "(X-Tui-Signature); relative to the config file.",
    )
    webhook_max_connections: StrictInt = option(
        100, "an integer >= 1", "Connections the webhook client keeps open at most (keep-alive pool).", ge=1
    )
    status_webhook: Annotated[StrictStr, AfterValidator(_check_http_url)] = option(
        "",
        'an http:// or https:// URL, or "" (off)',
        "Where call start and call end (reason, duration, attempts, menus) are POSTed, signed.",
    )
    status_webhook_timeout: Duration = option(
        "2s", f"{DURATION_HELP}, > 0", "Longest a status-webhook request may take; then it is dropped.", gt=0
    )
    status_webhook_max_pending: StrictInt = option(
        100, "an integer >= 1", "Status-webhook requests in flight at most; more are dropped (logged).", ge=1
    )
    max_call_duration: Duration = option(
        "1h",
        f'{DURATION_HELP}; "0s" disables',
        "Longest a call may last, whatever it does; then goodbye and BYE.",
    )
    max_silence_total: Duration = option(
        "5m",
        f'{DURATION_HELP}; "0s" disables',
        "Silence budget of a call (the time no-input timers ran, over all menus); then goodbye, BYE.",
    )
    media_timeout: Duration = option(
        "60s",
        f'{DURATION_HELP}; "0s" disables',
        "No RTP from the caller for this long (once it sent some; not on hold): goodbye and BYE.",
    )
    dialplans: Annotated[Path, _resolver("dialplans")] = option(
        Path("dialplans"),
        "a directory path",
        "Directory of dialplan YAML files; relative to the config file.",
    )
    default_dialplan: Annotated[StrictStr, StringConstraints(min_length=1)] = option(
        "main", "a dialplan name (file name without .yaml)", "The dialplan a new call starts in."
    )
    session_expires: Annotated[Duration, AfterValidator(_check_session_expires)] = option(
        "30m",
        f"{DURATION_HELP}: 0 (off) or at least 90s",
        "RFC 4028 session interval asked for when the caller names none; we refresh at half of it "
        "and send BYE (session-expired) when the call is not refreshed in time. 0: only on request.",
    )
    min_se: Duration = option(
        "90s", f"{DURATION_HELP}, >= 90s", "Shortest session interval accepted (422 below it).", ge=90
    )
    speech_voice: Annotated[StrictStr, AfterValidator(_check_voice)] = option(
        "en-us",
        'an espeak-ng voice ("espeak-ng --voices" lists them), e.g. "en-us", "en-gb", "fr", "en-us+f3"',
        "The voice of say: text (espeak-ng -v).",
    )
    speech_rate: StrictInt = option(
        175,
        "an integer from 80 to 450 (words per minute)",
        "How fast say: text is spoken (espeak-ng -s).",
        ge=80,
        le=450,
    )
    speech_language: Language = option(
        "en",
        'a language code such as "en"; say-digits and say-number need its recorded words: "en" ships',
        "Language of the recorded words say-digits and say-number play.",
    )
    speech_cache_size: StrictInt = option(
        256,
        "an integer >= 0; 0 keeps nothing",
        "Call-time say: renderings kept in memory (least recently used dropped first).",
        ge=0,
    )
    speech_timeout: Duration = option(
        "5s",
        f"{DURATION_HELP}, > 0",
        "Longest a call-time say: rendering may take; past it the item is skipped and the call goes on.",
        gt=0,
    )
    call_records_retention: Duration = option(
        "30d",
        f'{DURATION_HELP}, or days such as "30d"; 0 keeps them for ever',
        "How long call records (one per finished call) are kept in the store.",
    )


class WebSection(_Section):
    """``[applications.NAME.web]``: the portal."""

    store: Annotated[StrictStr, AfterValidator(_check_store)] = option(
        "sqlite",
        '"sqlite" or a Redis URL such as "redis://127.0.0.1:6379/0"',
        "Where users and sessions live.",
    )
    heartbeat_interval: Duration = option(
        "15s", f"{DURATION_HELP}, > 0", "How often an open page tells the server it is still there.", gt=0
    )


class Application(_Section):
    """``[applications.NAME]``: one Genesys-style Application with its option sections."""

    type: Literal["tui", "web"] = Field(
        description="tui answers phone calls; web is the portal.",
        json_schema_extra={"allowed": '"tui" or "web"'},
    )
    security: SecuritySection = _section()
    tui: TuiSection = _section()
    web: WebSection = _section()

    @model_validator(mode="after")
    def _sections_match_type(self) -> Application:
        other = "web" if self.type == "tui" else "tui"
        if other in self.model_fields_set:
            raise ValueError(
                f'[{other}] is a section of type = "{other}" applications; this one is "{self.type}"'
            )
        return self

    def idle_policy(self) -> IdlePolicy:
        """The one idle core's policy for this application.

        tui: ``no-input-timeout`` × ``max-attempts``, then disconnect (goodbye + BYE).
        web: ``inactivity-timeout`` once, then lock; warned ``inactivity-warning`` before.
        """
        if self.type == "tui":
            return call_policy(self.tui.no_input_timeout, self.tui.max_attempts)
        return portal_policy(self.security.inactivity_timeout, self.security.inactivity_warning)


class EngineConfig(_Section):
    """The whole file. Built by :func:`tui_engine.config.load_config` and friends."""

    engine: EngineSection = _section()
    logging: LoggingSection = _section()
    applications: dict[AppName, Application] = Field(default_factory=dict)

    # The TOML data as written and the validation context, so overrides and reloads
    # re-validate the original text (an integer inactivity-timeout stays minutes).
    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)
    _context: dict[str, Any] = PrivateAttr(default_factory=dict)
    _source: str = PrivateAttr(default="<memory>")
    _lines: dict[tuple[str, ...], int] = PrivateAttr(default_factory=dict)

    @property
    def source(self) -> str:
        """Where this configuration came from: a file path or ``<embedded default>``."""
        return self._source

    def _first(self, kind: str) -> tuple[str, Application] | None:
        return next(((n, a) for n, a in self.applications.items() if a.type == kind), None)

    def tui_app(self) -> tuple[str, Application] | None:
        """The first ``type = "tui"`` application: it answers calls."""
        return self._first("tui")

    def web_app(self) -> tuple[str, Application] | None:
        """The first ``type = "web"`` application: it is the portal."""
        return self._first("web")

    def options_as_written(self, app: str, section: str) -> dict[str, Any]:
        """An application section's options as a person writes them: the value from the file or
        an override (``inactivity-timeout = 10`` stays 10 minutes, ``"60s"`` stays a string), else
        the default as the template shows it. What the console displays and edits."""
        model = SECTIONS[("applications", "*", section)]
        written = self._raw.get("applications", {}).get(app, {}).get(section, {})
        out: dict[str, Any] = {}
        for name, field in model.model_fields.items():
            key = field.alias or name
            value = written.get(key, field.default)
            out[key] = str(value) if isinstance(value, Path) else value
        return out


#: Where each section's model sits; ``*`` stands for any application name.
SECTIONS: dict[tuple[str, ...], type[_Section]] = {
    (): EngineConfig,
    ("engine",): EngineSection,
    ("logging",): LoggingSection,
    ("applications", "*"): Application,
    ("applications", "*", "security"): SecuritySection,
    ("applications", "*", "tui"): TuiSection,
    ("applications", "*", "web"): WebSection,
}
