"""The restore's course in words: each event of docs/restore.md's table becomes one line for
the ticket and the thread, and integrations may reword any kind with a template."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from selfheal.core import CloudEvent
from selfheal.integrations import messages as m
from selfheal.integrations import restores
from selfheal.integrations.errors import ConfigError
from selfheal.integrations.jira import JiraConfig
from selfheal.integrations.manifests import load_manifest
from selfheal.integrations.slack import SlackConfig, SlackPlugin

CTX = "0b5c6e2a-7f41-4d7e-9a43-1d2e3f405162"
PID = "-2871646130434568712_1764998874000V2"
UI = "http://selfheal.test"
SCOPE = {
    "project": "website",
    "stage": "production",
    "service": "front-end",
    "problemId": PID,
    "flag": "EnableStaticContent",
    "environment": "production",
}


def event(type_: str, data: dict[str, Any], **ext: str) -> CloudEvent:
    return CloudEvent(
        type=type_,
        source="selfheal/restore",
        data={**SCOPE, **data},
        extensions={"shkeptncontext": CTX, **ext},
    )


def told(type_: str, data: dict[str, Any], **ext: str) -> m.Notification:
    n = m.notification_of(event(type_, data, **ext), ui_url=UI)
    assert n is not None
    return n


@pytest.mark.parametrize(
    ("type_", "data", "kind", "words"),
    [
        (
            "sh.selfheal.problem.mitigated",
            {"displayId": "P-7", "since": "2026-12-06T07:47:54.000Z"},
            "problem.mitigated",
            "mitigated: served by the fallback (EnableStaticContent) since 07:47:54 UTC;"
            " origin not yet verified",
        ),
        (
            "sh.keptn.event.restore.triggered",
            {"restore": {"steps": [90, 50, 0], "approval": True}},
            "restore.triggered",
            "restore armed: verifying the origin, then 90 → 50 → 0 % on the fallback;"
            " needs an approval",
        ),
        (
            "sh.selfheal.origin.verified",
            {"probes": 3, "at": "2026-12-06T07:48:10.000Z"},
            "origin.verified",
            "origin verified (3 probes ok)",
        ),
        (
            "sh.keptn.event.restore.started",
            {"message": "origin verified (3 probes ok)"},
            "restore.started",
            "restore started: origin verified (3 probes ok)",
        ),
        (
            "sh.selfheal.restore.step",
            {"step": 0, "fallbackPercent": 90, "steps": 3},
            "restore.step",
            "restore step 1 of 3: 10 % of users on the origin",
        ),
        (
            "sh.selfheal.restore.step",
            {"step": 2, "fallbackPercent": 0, "steps": 3},
            "restore.step",
            "restore step 3 of 3: 100 % of users on the origin (the kill switch is off)",
        ),
        (
            "sh.selfheal.restore.breached",
            {
                "step": 1,
                "requests": 200,
                "failures": 24,
                "failureRate": 0.12,
                "maxFailureRate": 0.05,
                "retryAt": "2026-12-06T07:50:00.000Z",
            },
            "restore.breached",
            "restore step 2 breached: 24 of 200 origin requests failed (12.0% > 5.0%);"
            " all users back on the fallback, next try at 07:50:00 UTC",
        ),
        (
            "sh.selfheal.restore.held",
            {
                "by": "admin",
                "change": "switched EnableStaticContent off",
                "holdUntil": "2026-12-06T08:02:54.000Z",
                "state": "held",
            },
            "restore.held",
            "admin switched EnableStaticContent off; automation on hold until 08:02:54 UTC",
        ),
        (
            "sh.selfheal.restore.held",
            {"by": "admin", "change": "changed EnableStaticContent", "state": "kept"},
            "restore.held",
            "admin changed EnableStaticContent; the fallback stays until automation is resumed",
        ),
        (
            "sh.selfheal.restore.resumed",
            {"by": "hold expired", "reason": "the hold is over", "fallbackPercent": 100},
            "restore.resumed",
            "automation resumed (the hold is over)",
        ),
        (
            "sh.selfheal.restore.decided",
            {"decision": "approved", "by": "slack:jane"},
            "restore.decided",
            "slack:jane approved the restore",
        ),
        (
            "sh.selfheal.restore.decided",
            {"decision": "keep-fallback", "by": "admin"},
            "restore.decided",
            "admin chose to keep the fallback: no restore until automation is resumed",
        ),
        (
            "sh.keptn.event.restore.finished",
            {
                "result": "pass",
                "outcome": "restored",
                "message": "restored after 1m05s on the fallback: all users back on the origin",
            },
            "restore.finished",
            "restored after 1m05s on the fallback: all users back on the origin",
        ),
        (
            "sh.keptn.event.restore.finished",
            {"result": "fail", "outcome": "closed", "message": "the problem is closed"},
            "restore.finished",
            "restore ended (closed): the problem is closed",
        ),
    ],
)
def test_each_event_of_the_course_is_one_line(
    type_: str, data: dict[str, Any], kind: str, words: str
) -> None:
    n = told(type_, data)
    assert (n.kind, n.message) == (kind, words)
    assert n.kind in m.KINDS
    # the line belongs to the problem's ticket and thread, and the remediation's sequence
    assert n.problem is not None and n.problem.key == PID
    assert n.keptn_context == CTX
    assert n.problem_link == f"{UI}/problems/{PID}"
    assert n.sequence_link == f"{UI}/bridge/sequence/{CTX}"
    assert (n.project, n.stage, n.service) == ("website", "production", "front-end")


def test_every_course_kind_has_words_and_is_a_kind() -> None:
    keptn = (m.PROBLEM_OPEN, m.PROBLEM_RESOLVED, m.SEQUENCE_TRIGGERED, *m.STEPS)
    assert {*keptn, m.APPROVAL, m.SEQUENCE_FINISHED, m.ESCALATION, *restores.COURSE} == set(m.KINDS)
    assert len(set(restores.EVENT_TYPES)) == len(restores.COURSE)
    for type_ in restores.EVENT_TYPES:
        n = told(type_, {})  # sparse data still reads as a sentence
        assert n.message and "None" not in n.message, (type_, n.message)


def test_only_a_restored_end_resolves() -> None:
    assert restores.restored("restore.finished", {"outcome": "restored"})
    assert not restores.restored("restore.finished", {"outcome": "closed"})
    assert not restores.restored("restore.step", {"outcome": "restored"})


def test_a_restore_approval_asks_about_the_restore() -> None:
    restore_ask = told(
        "sh.keptn.event.approval.triggered",
        {"message": "origin verified (3 probes ok)", "restore": {"steps": [90, 50, 0]}},
    )
    assert restore_ask.kind == m.APPROVAL
    assert restore_ask.message == (
        "the restore of EnableStaticContent waits for an approval: origin verified (3 probes ok)"
    )
    assert restore_ask.problem is not None and restore_ask.problem.key == PID
    remediation_ask = m.notification_of(
        CloudEvent(
            type="sh.keptn.event.approval.triggered",
            source="selfheal/control",
            data={"project": "website", "stage": "production", "service": "front-end"},
            extensions={"shkeptncontext": CTX},
        ),
        ui_url=UI,
    )
    assert remediation_ask is not None
    assert remediation_ask.message == "Keptn asks for an approval to continue the remediation"


def test_other_selfheal_events_tell_nobody() -> None:
    for type_ in ("sh.selfheal.integrations.comment", "sh.selfheal.ui.login.failed"):
        assert m.notification_of(event(type_, {}), ui_url=UI) is None


# -- templates ----------------------------------------------------------------------------
def test_a_template_rewords_its_kind_only() -> None:
    templates = {
        "problem.mitigated": "{{.problem.id}} on the CDN since {{.data.since}} ({{.message}})",
        "restore.step": "step {{.data.step}}: {{.data.fallbackPercent}}% on the CDN",
    }
    mitigated = told(
        "sh.selfheal.problem.mitigated", {"displayId": "P-7", "since": "2026-12-06T07:47:54Z"}
    )
    assert m.worded(mitigated, templates) == (
        "P-7 on the CDN since 2026-12-06T07:47:54Z (mitigated: served by the fallback"
        " (EnableStaticContent) since 07:47:54 UTC; origin not yet verified)"
    )
    step = told("sh.selfheal.restore.step", {"step": 1, "fallbackPercent": 50, "steps": 3})
    assert m.worded(step, templates) == "step 1: 50% on the CDN"
    verified = told("sh.selfheal.origin.verified", {"probes": 3})
    assert m.worded(verified, templates) == verified.message


def test_a_template_naming_a_missing_field_falls_back_to_the_own_words() -> None:
    n = told("sh.selfheal.origin.verified", {"probes": 2})
    assert m.worded(n, {"origin.verified": "ok after {{.data.nothere}}"}) == (
        "origin verified (2 probes ok)"
    )


MANIFEST = """\
integrations:
  - name: jira
    type: jira
    config:
      url: https://example.atlassian.net
      token: {secret: jira-token}
      project_key: OPS
      mitigated_transition: In Progress
      messages:
        problem.mitigated: "mitigated since {{.data.since}}"
        %s
"""


def test_templates_load_from_integrations_yaml() -> None:
    manifest = load_manifest(MANIFEST % 'restore.finished: "{{.message}}"')
    config = manifest.config(JiraConfig, manifest.integrations[0])
    assert config.mitigated_transition == "In Progress"
    assert config.messages == {
        "problem.mitigated": "mitigated since {{.data.since}}",
        "restore.finished": "{{.message}}",
    }


@pytest.mark.parametrize(
    ("line", "field", "words"),
    [
        ('restore.stepped: "x"', "integrations[0].config.messages.restore.stepped", "Input"),
        (
            'restore.step: "{{.env.jira-token}}"',
            "integrations[0].config.messages.restore.step",
            "'{{.env.jira-token}}' is none of .data, .id",
        ),
    ],
)
def test_unknown_kinds_and_names_are_config_errors_with_their_line(
    line: str, field: str, words: str
) -> None:
    manifest = load_manifest(MANIFEST % line)
    with pytest.raises(ConfigError) as err:
        manifest.config(JiraConfig, manifest.integrations[0])
    assert err.value.field == field
    assert words in str(err.value)
    assert err.value.line == 11


def test_slack_takes_the_same_templates() -> None:
    base = {"webhook_url": {"secret": "hook"}}
    config = SlackConfig.model_validate({**base, "messages": {"restore.step": "{{.message}}"}})
    assert config.messages == {"restore.step": "{{.message}}"}
    with pytest.raises(ValueError, match=r"restore\.stepp"):
        SlackConfig.model_validate({**base, "messages": {"restore.stepp": "x"}})


def test_unknown_notification_kinds_in_events_are_config_errors() -> None:
    text = "integrations:\n  - name: j\n    type: jira\n    events: [problem.open, restore.stpe]\n"
    with pytest.raises(ConfigError) as err:
        load_manifest(text)
    assert err.value.field == "integrations[0].events"
    assert "restore.stpe" in str(err.value)
    assert err.value.line == 4
    ok = load_manifest(text.replace("restore.stpe", "restore.step"))
    assert ok.integrations[0].events == ("problem.open", "restore.step")


def test_slack_words_a_threads_first_message_with_the_problem_open_template() -> None:
    """In a thread (bot token) the problem's announcement is the thread's first message: a
    `problem.open` template words it; without one it is selfheal's own announcement."""
    opened = CloudEvent(
        type="sh.keptn.events.problem",
        source="dynatrace",
        data={
            **SCOPE,
            "State": "OPEN",
            "ProblemTitle": "Failure rate increase",
            "PID": "123",
            "ProblemID": "P-9",
        },
        extensions={"shkeptncontext": CTX},
    )
    n = m.notification_of(opened, ui_url=UI)
    assert n is not None and n.kind == "problem.open"
    base = {"webhook_url": {"secret": "hook"}}
    worded = SimpleNamespace(
        config=SlackConfig.model_validate(
            {**base, "messages": {"problem.open": "{{.problem.id}} fails: {{.problem.title}}"}}
        )
    )
    plain = SimpleNamespace(config=SlackConfig.model_validate(base))
    assert SlackPlugin._root_text(worded, n) == ":red_circle: P-9 fails: Failure rate increase"  # type: ignore[arg-type]
    assert "[PROBLEM]" in SlackPlugin._root_text(plain, n)  # type: ignore[arg-type]
