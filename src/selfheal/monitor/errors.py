"""The monitor's exception tree (bases from `selfheal.core`, mapped to HTTP by the web layer)."""

from __future__ import annotations

from selfheal.core import InvalidInput, NotFound, SelfhealError


class MonitorError(SelfhealError):
    """Base of the monitor's own errors."""


class NoData(MonitorError):
    """A source answered nothing usable: unreachable, not Prometheus, or no matching series."""


class ExpositionError(NoData):
    """A scrape body that is not in the Prometheus text format."""


class ProbeFailed(MonitorError):
    """A probed origin did not answer (refused, reset, DNS): no status to judge."""


class ProblemNotFound(NotFound):
    """No problem with that id, display id or PID."""


class CommentNotFound(NotFound):
    """No comment with that id on the problem."""


class ServiceNotFound(NotFound):
    """No monitored service with that name."""


class InvalidMonitorInput(InvalidInput):
    """Bad monitor.yaml, detector settings or webhook payload."""
