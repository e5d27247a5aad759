"""Where each resource's page lives in the web UI: one link builder per resource.

Templates, notifications (Slack, Jira, problem comments) and the monitor's problem URL all
build their links here, so a route that moves moves everywhere at once, and a test can
check that every link the product emits resolves. Each builder returns a path; `absolute`
puts the public URL in front for links that leave the browser (chat messages, tickets).
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

ACTOR_SEQUENCE = "remediation:"
ACTOR_USER = "user:"


def _seg(value: str) -> str:
    return quote(value, safe="")


def problem(problem_id: str) -> str:
    """A problem's page (any of its ids: internal id, display id, PID)."""
    return f"/problems/{_seg(problem_id)}"


def problems(status: str | None = None) -> str:
    return "/problems" + (f"?{urlencode({'status': status})}" if status else "")


def sequence(context: str) -> str:
    """A sequence's page, by its keptnContext."""
    return f"/bridge/sequence/{_seg(context)}"


def sequences(problem: str | None = None) -> str:
    """The sequences list; with `problem`, only the sequences started for that problem."""
    return "/bridge" + (f"?{urlencode({'problem': problem})}" if problem else "")


def project(name: str) -> str:
    return f"/bridge/project/{_seg(name)}"


def flag(project: str, name: str) -> str:
    return f"/flags/{_seg(project)}/{_seg(name)}"


def flag_history(project: str, name: str) -> str:
    return flag(project, name) + "#history"


def flags_archive() -> str:
    return "/flags/archive"


def deliveries(*, problem: str | None = None, context: str | None = None) -> str:
    query = {k: v for k, v in (("problem", problem), ("context", context)) if v}
    return "/deliveries" + (f"?{urlencode(query)}" if query else "")


def actor(created_by: str) -> str | None:
    """The page of whoever changed something, when it has one: `remediation:<context>` is a
    sequence; users and API tokens have no page."""
    if created_by.startswith(ACTOR_SEQUENCE):
        context = created_by[len(ACTOR_SEQUENCE) :]
        return sequence(context) if context else None
    return None


def absolute(base_url: str, path: str) -> str:
    """A path as a link that works outside the browser (`base_url` is the public URL)."""
    return base_url.rstrip("/") + path
