"""Settings of the integrations context (a section of the one frozen Settings tree).

`SELFHEAL_INTEGRATIONS__FILE=/etc/selfheal/integrations.yaml` points at the plugin file;
the rest tunes delivery, the webhook URL deny-list and where `toggle-feature` flips flags.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class IntegrationsSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str | None = None
    """integrations.yaml (see docs/integrations.md); none means no notifiers."""
    secrets: dict[str, SecretStr] = Field(default_factory=dict)
    """Secret values by name (lowest-effort source; prefer env/file sources in production)."""
    ui_url: str | None = None
    """Base URL for links in tickets and messages (default: the server's public URL)."""

    max_attempts: int = Field(default=5, ge=1, le=50)
    backoff_seconds: float = Field(default=1.0, ge=0)
    max_backoff_seconds: float = Field(default=60.0, ge=0)
    timeout_seconds: float = Field(default=10.0, gt=0)

    webhook_secrets: dict[str, list[str]] = Field(default_factory=dict)
    """Project -> the secrets its webhook.yaml may use (with integrations.yaml's
    `webhook_secrets`); a secret granted to no project is out of every webhook's reach."""
    webhook_deny: list[str] | None = None
    """Networks the webhook action may not reach (default: loopback, link-local, metadata)."""
    webhook_allow: list[str] = Field(default_factory=list)
    """Hosts or networks allowed even though the deny-list covers them."""
    webhook_deny_private: bool = False
    """Deny private ranges too (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7)."""

    unleash_url: str | None = None
    """Flip flags on this remote Unleash-compatible server instead of the local flags service."""
    unleash_token: SecretStr | None = None
    unleash_legacy: bool = False
    """Use the legacy `/api/admin/features/{flag}/toggle/on|off` route with Basic auth."""
    flag_project: str = "default"
    environments: dict[str, str] = Field(default_factory=dict)
    """Stage name -> flag environment for toggle-feature (default: the stage's own name)."""
