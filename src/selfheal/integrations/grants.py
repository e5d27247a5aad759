"""Which secrets a project's webhook.yaml may use: only those an operator granted to it.

A webhook.yaml belongs to a project (anyone who may upload the project's resources writes it)
while the secrets belong to the operator (Jira and Slack tokens, …). Like Keptn, which lets a
webhook read only the secrets scoped to the webhook service, selfheal lets a project's
webhooks read only the secrets granted to that project — in settings
(`integrations.webhook_secrets`) or integrations.yaml (`webhook_secrets:`), both
`{project: [secret, …]}`. A grant names the secret (`secretRef.name` of an `envFrom`, or the
bare name of `{{.env.name}}` without one); a secret stored as `name.key` is covered by `name`.

The refusal happens twice: at upload (a 400 naming the secret and the project, nothing
stored) and when a request is built (a grant withdrawn since, a file stored before grants
existed). Names appear in errors; values never do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from selfheal.control.specs import WebhookConfig
from selfheal.integrations.errors import UngrantedSecret
from selfheal.integrations.placeholders import names


class SecretGrants:
    def __init__(self, *grants: Mapping[str, Iterable[str]]) -> None:
        self._granted: dict[str, frozenset[str]] = {}
        for grant in grants:
            for project, secrets in grant.items():
                self._granted[project] = self._granted.get(project, frozenset()) | set(secrets)

    def allows(self, project: str, secret: str) -> bool:
        return secret in self._granted.get(project, frozenset())

    def require(self, project: str, secret: str, *, field: str | None = None) -> None:
        if not self.allows(project, secret):
            raise UngrantedSecret(
                f"secret {secret!r} is not granted to project {project!r} (an operator grants "
                f"it in integrations.webhook_secrets or integrations.yaml's webhook_secrets)",
                field=field,
            )

    def check_webhook(self, project: str, config: WebhookConfig) -> None:
        """Every secret `config` declares or uses must be granted to `project`."""
        for field, secret in references(config):
            self.require(project, secret, field=field)

    def check_resource(self, project: str, uri: str, spec: object) -> None:
        """The control plane's upload check (`ControlService.register_resource_check`)."""
        if isinstance(spec, WebhookConfig):
            self.check_webhook(project, spec)


def references(config: WebhookConfig) -> list[tuple[str, str]]:
    """(field, secret name) of every `envFrom` entry and every `{{.env.name}}` in a request."""
    found: list[tuple[str, str]] = []
    for i, hook in enumerate(config.webhooks):
        where = f"spec.webhooks[{i}]"
        declared: dict[str, str] = {}
        for j, env in enumerate(hook.env_from):
            declared[env.name] = env.secret
            found.append((f"{where}.envFrom[{j}].secretRef.name", env.secret))
        for k, request in enumerate(hook.requests):
            templates = [request.url, request.payload, *(h.value for h in request.headers)]
            for template in templates:
                for path in names(template):
                    if path.startswith("env."):
                        name = path.removeprefix("env.")
                        found.append((f"{where}.requests[{k}]", declared.get(name, name)))
    return found


__all__ = ["SecretGrants", "references"]
