"""Media for phone calls: prompts (WAV → G.711, cached), SDP offer/answer, RTP, the shared media clock, DTMF.

Only ``rtp`` touches sockets; ``clock`` schedules ``loop.call_at``; the rest is sans-I/O.
See docs/media.md.
"""

from tui_engine.media.clock import MediaClock
from tui_engine.media.dtmf import GoertzelDetector, GoertzelSettings, Rfc4733Detector, parse_info_body
from tui_engine.media.engine import MediaEngine
from tui_engine.media.errors import DtmfError, NoCommonCodec, PortsExhausted, PromptError, SdpError
from tui_engine.media.prompts import Prompt, PromptCache
from tui_engine.media.rtp import PortAllocator, RtpSender
from tui_engine.media.sdp import Direction, SdpAnswer, negotiate
from tui_engine.media.session import MediaSession
from tui_engine.media.wav import WavAudio, read_wav

__all__ = [
    "Direction",
    "DtmfError",
    "GoertzelDetector",
    "GoertzelSettings",
    "MediaClock",
    "MediaEngine",
    "MediaSession",
    "NoCommonCodec",
    "PortAllocator",
    "PortsExhausted",
    "Prompt",
    "PromptCache",
    "PromptError",
    "Rfc4733Detector",
    "RtpSender",
    "SdpAnswer",
    "SdpError",
    "WavAudio",
    "negotiate",
    "parse_info_body",
    "read_wav",
]
