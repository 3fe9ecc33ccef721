"""A small error tree (after h11's ``_util``): one base, caller-side vs peer-side.

Lock and disconnect are *decisions* (return values), never exceptions.
"""


class TuiEngineError(Exception):
    """Base of every error tui-engine raises on purpose."""


class LocalError(TuiEngineError):
    """Our own code (or a configuration) asked for something impossible."""


class RemoteError(TuiEngineError):
    """A peer sent something we cannot accept.

    ``status`` is the SIP or HTTP status to answer with, when there is one.
    """

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class IdlePolicyError(LocalError):
    """An event that is illegal in the session's current state; the state is unchanged."""
