"""What each step says, in Keptn's words (problem comments are built from these), and each
sequence's outcome in plain words for the bridge."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from selfheal.core import CloudEvent
from selfheal.core.keptn import parse_type

OUTCOMES = {
    "remediated": "Remediated",
    "restored": "Restored",
    "exhausted": "Exhausted",
    "errored": "Errored",
    "aborted": "Aborted",
    "resolved": "Resolved",
    "rejected": "Rejected",
    "succeeded": "Succeeded",
    "failed": "Failed",
}


def action_triggered(action: str, description: str) -> str:
    return f"Keptn triggered action {action}: {description}"


def action_started(source: str) -> str:
    return f"Keptn remediation action started execution by: {source}"


def action_finished(source: str, result: str, status: str) -> str:
    return f"Keptn finished execution of action by: {source} Result: {result} Status: {status}"


def evaluation_finished(result: str, score: float) -> str:
    return f"Keptn remediation evaluation resulted in {result} ({score:g}/100)"


def keptn_message(event: CloudEvent) -> str | None:
    """The comment text for a task event of a remediation, whoever sent it; None when the
    event is not a step worth a comment. Integrations use this for any provider's events."""
    parsed = parse_type(event.type)
    if parsed is None or parsed.stage is not None:
        return None
    data = event.payload()
    if parsed.name == "action":
        raw = data.get("action")
        action: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        if parsed.phase == "triggered":
            return action_triggered(
                str(action.get("action") or action.get("name") or "?"),
                str(action.get("description") or ""),
            )
        if parsed.phase == "started":
            return action_started(event.source)
        if parsed.phase == "finished":
            return action_finished(
                event.source, str(data.get("result", "")), str(data.get("status", ""))
            )
    if parsed.name == "evaluation" and parsed.phase == "finished":
        raw_eval = data.get("evaluation")
        evaluation: Mapping[str, Any] = raw_eval if isinstance(raw_eval, Mapping) else {}
        score = evaluation.get("score", 0)
        return evaluation_finished(
            str(evaluation.get("result") or data.get("result", "")),
            float(score) if isinstance(score, int | float) else 0.0,
        )
    return None


def outcome_words(outcome: str | None, message: str) -> str:
    """ "Remediated: the evaluation passed after action 1 of 2 (…)" for the bridge."""
    if outcome is None:
        return message or "Running"
    head = OUTCOMES.get(outcome, outcome.capitalize())
    return f"{head}: {message}" if message else head
