"""The flags context's exceptions (the web layer maps their bases to status codes)."""

from __future__ import annotations

from selfheal.core import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized


class InvalidFlagInput(InvalidInput):
    """A flag, strategy, constraint, variant, segment or token that breaks the rules."""


class FlagNotFound(NotFound):
    """No such flag (or it is archived where a live one is required)."""


class EnvironmentNotFound(NotFound):
    """No such environment."""


class ProjectNotFound(NotFound):
    """No such project."""


class StrategyNotFound(NotFound):
    """No strategy with that id on the flag's environment."""


class SegmentNotFound(NotFound):
    """No segment with that id."""


class TokenNotFound(NotFound):
    """No API token with that secret."""


class FlagExists(Conflict):
    """A flag with that name exists already (live or archived)."""


class FlagChanged(Conflict):
    """A compare-and-set found the flag not as the writer expected (someone changed it)."""

    def __init__(self, message: str, *, actual: int) -> None:
        super().__init__(message)
        self.actual = actual


class BadToken(Unauthorized):
    """An API token nobody issued."""


class WrongTokenKind(Forbidden):
    """A real token used where its kind or scope is not allowed."""
