"""Jira, Slack and Dynatrace stand-ins on real sockets, and the integrations.yaml naming them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from selfheal.integrations import IntegrationsSettings
from selfheal.integrations.standins import DynatraceStandIn, JiraStandIn, SlackStandIn, serve

JIRA_TOKEN = "jira-api-token-0123"
SLACK_TOKEN = "xoxb-system-test"
SLACK_SIGNING = "slack-signing-secret-system-test"
DT_TOKEN = "dt0c01.system-test"

MANIFEST = """\
integrations:
  - name: jira
    type: jira
    config:
      url: {jira}
      api: v3
      auth: basic
      user: bot@example.com
      token: {{secret: jira-token}}
      project_key: OPS
      resolve_transition: Done
      sync_comments: false
{jira_extra}  - name: slack
    type: slack
    config:
      bot_token: {{secret: slack-bot}}
      channel: "#ops"
      api_url: {slack}/api
{slack_extra}  - name: dynatrace
    type: dynatrace
    config:
      url: {dynatrace}
      token: {{secret: dt-token}}
"""


@dataclass
class StandIns:
    jira: JiraStandIn
    slack: SlackStandIn
    dynatrace: DynatraceStandIn
    urls: dict[str, str]

    def settings(
        self,
        tmp_path: Path,
        *,
        attempts: int = 3,
        timeout: float = 0.5,
        jira: str = "",
        slack: str = "",
    ) -> IntegrationsSettings:
        """`jira`/`slack`: more lines of that integration's `config:` (indented 6)."""
        path = tmp_path / "integrations.yaml"
        path.write_text(MANIFEST.format(**self.urls, jira_extra=jira, slack_extra=slack))
        return IntegrationsSettings(
            file=str(path),
            secrets={
                "jira-token": SecretStr(JIRA_TOKEN),
                "slack-bot": SecretStr(SLACK_TOKEN),
                "slack-signing": SecretStr(SLACK_SIGNING),
                "dt-token": SecretStr(DT_TOKEN),
            },
            max_attempts=attempts,
            backoff_seconds=1.0,
            max_backoff_seconds=4.0,
            timeout_seconds=timeout,
        )


@asynccontextmanager
async def standins() -> AsyncIterator[StandIns]:
    jira, slack, dynatrace = JiraStandIn(), SlackStandIn(SLACK_TOKEN), DynatraceStandIn(DT_TOKEN)
    async with AsyncExitStack() as stack:
        urls = {
            "jira": await stack.enter_async_context(serve(jira.app)),
            "slack": await stack.enter_async_context(serve(slack.app)),
            "dynatrace": await stack.enter_async_context(serve(dynatrace.app)),
        }
        yield StandIns(jira, slack, dynatrace, urls)
