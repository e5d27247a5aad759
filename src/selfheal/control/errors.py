"""The control context's exceptions (mapped to HTTP status codes by `selfheal.web.errors`)."""

from __future__ import annotations

from selfheal.core import Conflict, InvalidInput, NotFound, SelfhealError


class ControlError(SelfhealError):
    """Base of the control context's errors."""


class InvalidResource(InvalidInput):
    """An uploaded file or request that breaks its schema; names the line and field."""


class ProjectNotFound(NotFound):
    """No such project, stage, service, resource or sequence."""


class SequenceConflict(Conflict):
    """The sequence is not in a state that allows this (e.g. resuming a finished one)."""


class ProjectExists(Conflict):
    """A project or service of that name exists already."""


class RestoreNotFound(NotFound):
    """No restore with that id."""


class RestoreConflict(Conflict):
    """The restore is not in a state that allows this (e.g. approving one not waiting)."""
