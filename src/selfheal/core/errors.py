"""The base of every context's exception tree.

Contexts subclass these; the web layer maps the bases to HTTP status codes in one place
(`selfheal.web.errors`), so a context never needs to know about HTTP.
"""

from __future__ import annotations


class SelfhealError(Exception):
    """Base of all errors raised on purpose by selfheal."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(SelfhealError):
    """Input that breaks a contract; `field` names the offending part (dotted path)."""

    def __init__(self, message: str, *, field: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.line = line

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.field:
            where.append(f"field '{self.field}'")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class NotFound(SelfhealError):
    """A named thing does not exist."""


class Conflict(SelfhealError):
    """The request clashes with the current state (already exists, wrong state)."""


class Unauthorized(SelfhealError):
    """No credentials, or credentials that match nothing."""


class LoginRequired(Unauthorized):
    """A web UI page asked for with nobody logged in; `target` is the page (path and query),
    where the login sends them back to. The web layer answers with a redirect to the login."""

    def __init__(self, target: str) -> None:
        super().__init__("log in to the web UI first")
        self.target = target


class Forbidden(SelfhealError):
    """Credentials that are valid but not allowed to do this."""


class Unavailable(SelfhealError):
    """A dependency is not reachable or the service is still starting: try again."""
