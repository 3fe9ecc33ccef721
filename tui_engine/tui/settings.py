"""From the engine configuration to what the telephony component needs, settled once per load."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tui_engine.config import Application, EngineConfig
from tui_engine.core import CallLimits
from tui_engine.core.overload import OverloadPolicy
from tui_engine.media.recorder import MAX_RECORDINGS
from tui_engine.media.tts import Voice
from tui_engine.menus import MenuDefaults
from tui_engine.menus.speech import SpeechOptions
from tui_engine.sip.session_timer import SessionTimerPolicy
from tui_engine.sip.transport import StreamLimits


@dataclass(frozen=True, kw_only=True, slots=True)
class WebhookSettings:
    """The webhook client's options (``webhook-*``, ``status-webhook*``), settled once per load."""

    secret: bytes = b""  #: b"": requests go unsigned
    max_connections: int = 100
    status_url: str = ""  #: "": no status webhook
    status_timeout: float = 2.0
    status_max_pending: int = 100


@dataclass(frozen=True, kw_only=True, slots=True)
class TuiSettings:
    app_name: str
    sip_host: str
    sip_port: int
    media_host: str  # "" = the SIP host
    rtp_ports: tuple[int, int]
    max_calls: int
    overload: OverloadPolicy
    trusted: tuple[str, ...]
    send_silence: bool
    dialplan_dir: Path
    default_dialplan: str
    defaults: MenuDefaults
    session_timers: SessionTimerPolicy
    speech: SpeechOptions = field(default_factory=SpeechOptions)
    #: call-time say: renderings kept in memory
    speech_cache_size: int = 256
    #: ``[engine] data-dir``: recordings and voicemail messages live under it
    data_dir: Path = Path("data")
    webhooks: WebhookSettings = WebhookSettings()
    #: ``[engine] max-recordings``: recordings in memory at once, engine-wide
    max_recordings: int = MAX_RECORDINGS
    #: ``sip-tcp-idle-timeout``, ``sip-tcp-max-connections``, ``sip-tcp-max-connections-per-source``
    streams: StreamLimits = field(default_factory=StreamLimits)
    #: ``answer-delay``: ring (180) this long before the 200 OK; 0 answers at once
    answer_delay: float = 0.0


def tui_settings(config: EngineConfig) -> TuiSettings | None:
    """The first ``type = "tui"`` application's settings, or None when there is none."""
    found = config.tui_app()
    if found is None:
        return None
    name, app = found
    engine = config.engine
    host, port = engine.sip_address
    t = app.tui
    return TuiSettings(
        app_name=name,
        sip_host=host,
        sip_port=port,
        media_host=engine.media_address,
        rtp_ports=engine.rtp_ports,
        max_calls=engine.max_calls,
        overload=OverloadPolicy(max_lag=engine.overload_lag, max_calls_in_setup=engine.max_calls_in_setup),
        trusted=tuple(str(n) for n in engine.trusted_networks),
        send_silence=engine.send_silence,
        dialplan_dir=t.dialplans,
        default_dialplan=t.default_dialplan,
        defaults=menu_defaults(app),
        session_timers=SessionTimerPolicy(session_expires=round(t.session_expires), min_se=round(t.min_se)),
        speech=speech_options(app),
        speech_cache_size=t.speech_cache_size,
        data_dir=engine.data_dir,
        webhooks=webhook_settings(app),
        max_recordings=engine.max_recordings,
        streams=StreamLimits(idle_timeout=engine.sip_tcp_idle_timeout,
                             max_connections=engine.sip_tcp_max_connections,
                             max_per_source=engine.sip_tcp_max_connections_per_source),
        answer_delay=t.answer_delay,
    )


def webhook_settings(app: Application) -> WebhookSettings:
    """The webhook client's settings; the secret is read from its file (checked at load)."""
    t = app.tui
    return WebhookSettings(
        secret=Path(t.webhook_secret_file).read_bytes().strip() if t.webhook_secret_file else b"",
        max_connections=t.webhook_max_connections,
        status_url=t.status_webhook,
        status_timeout=t.status_webhook_timeout,
        status_max_pending=t.status_webhook_max_pending,
    )


def speech_options(app: Application) -> SpeechOptions:
    """What loading the dialplans needs of speech: voice, rate, the number words' language."""
    t = app.tui
    return SpeechOptions(voice=Voice(name=t.speech_voice, rate=t.speech_rate), language=t.speech_language)


def menu_defaults(app: Application) -> MenuDefaults:
    """The menu timing of a ``type = "tui"`` application (what ``simulate`` uses too)."""
    t = app.tui
    return MenuDefaults(
        no_input_timeout=t.no_input_timeout,
        max_attempts=t.max_attempts,
        max_invalid=t.max_invalid,
        inter_digit_timeout=t.inter_digit_timeout,
        barge_in=t.barge_in,
        inband_dtmf=t.inband_dtmf,
        dtmf_methods=t.dtmf_methods,
        transfer_timeout=t.transfer_timeout,
        webhook_timeout=t.webhook_timeout,
        webhook_filler_delay=t.webhook_filler_delay,
        bye_allowance=t.bye_allowance,
        speech_timeout=t.speech_timeout,
        time_zone=t.time_zone,
        limits=CallLimits(
            max_call_duration=t.max_call_duration,
            max_silence_total=t.max_silence_total,
            media_timeout=t.media_timeout,
        ),
    )
