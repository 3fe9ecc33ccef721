"""Menu timing settings: engine defaults, overridden per dialplan, then per menu.

The names follow the ``[applications.<name>.tui]`` section of the configuration
(``no-input-timeout``, ``max-attempts``, ...); defaults are FreeSWITCH ``ivr_menu``'s shape:
10 s of silence, 3 attempts, 3 invalid entries, inter-digit 5 s (Asterisk ``TIMEOUT(digit)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tui_engine.core import CallLimits, IdlePolicy, call_policy
from tui_engine.menus.model import Settings


@dataclass(frozen=True, kw_only=True, slots=True)
class MenuDefaults:
    """Engine-wide menu settings (from the configuration); a dialplan or menu may override them."""

    no_input_timeout: float = 10.0
    max_attempts: int = 3
    max_invalid: int = 3
    inter_digit_timeout: float = 5.0
    barge_in: bool = True
    inband_dtmf: bool = False  # used by the media glue (Goertzel detection), not by the interpreter
    #: DTMF methods that count, most preferred first (media glue, like ``inband_dtmf``)
    dtmf_methods: tuple[str, ...] = ("rfc4733", "info", "inband")
    #: the BYE waits this long after the goodbye's last frame (the caller's jitter buffer plays it out)
    bye_allowance: float = 0.2
    #: how long a REFER may take to report its outcome before the caller returns to the menu
    transfer_timeout: float = 30.0
    #: the longest a webhook may take to answer (its step may say otherwise)
    webhook_timeout: float = 5.0
    #: silence before a webhook's filler prompt plays (and between its repeats)
    webhook_filler_delay: float = 1.0
    #: how long a call-time ``say:`` rendering may take before the sequence plays without it
    speech_timeout: float = 5.0
    #: IANA zone of the clock variables (``time``, ``weekday``...) when a dialplan names none
    time_zone: str = "local"
    #: the call-wide guards (max-call-duration, max-silence-total, media-timeout), engine-wide only
    limits: CallLimits = field(default_factory=CallLimits)


@dataclass(frozen=True, kw_only=True, slots=True)
class Effective:
    """The settings one menu runs with, every override applied."""

    no_input_timeout: float
    max_attempts: int
    max_invalid: int
    inter_digit_timeout: float
    barge_in: bool

    def idle_policy(self) -> IdlePolicy:
        """No-input cycle for the idle core: ``max_attempts`` periods, then disconnect."""
        return call_policy(self.no_input_timeout, self.max_attempts)

    @property
    def digit_timeout(self) -> float:
        """Inter-digit timeout; 0 falls back to the no-input timeout (Twilio's rule) so an
        entry can never hang for ever while the no-input timer is held."""
        return self.inter_digit_timeout or self.no_input_timeout


def effective(defaults: MenuDefaults, *layers: Settings) -> Effective:
    """Apply ``layers`` (dialplan, then menu) over ``defaults``; the last non-``None`` wins.

    Remembered by the objects' identity: every menu entered asks, with the same frozen
    defaults and settings objects each time (they change only on a reload). The cache holds
    the objects themselves, so an ``id`` in it cannot be reused by another object meanwhile.
    """
    key = (id(defaults), *map(id, layers))
    found = _EFFECTIVE.get(key)
    if found is not None:
        return found[1]
    result = _apply(defaults, layers)
    if len(_EFFECTIVE) >= _EFFECTIVE_SIZE:  # reloads leave old objects behind: start afresh
        _EFFECTIVE.clear()
    _EFFECTIVE[key] = ((defaults, *layers), result)
    return result


_EFFECTIVE: dict[tuple[int, ...], tuple[tuple[object, ...], Effective]] = {}
_EFFECTIVE_SIZE = 4096


def _apply(defaults: MenuDefaults, layers: tuple[Settings, ...]) -> Effective:
    values = {
        "no_input_timeout": defaults.no_input_timeout,
        "max_attempts": defaults.max_attempts,
        "max_invalid": defaults.max_invalid,
        "inter_digit_timeout": defaults.inter_digit_timeout,
        "barge_in": defaults.barge_in,
    }
    for layer in layers:
        for key in values:
            override = getattr(layer, key)
            if override is not None:
                values[key] = override
    return Effective(**values)  # type: ignore[arg-type]
