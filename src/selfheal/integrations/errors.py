"""The integrations context's exception tree (subclasses of the core errors)."""

from __future__ import annotations

from selfheal.core import InvalidInput, SelfhealError, Unauthorized
from selfheal.delivery.errors import DeliveryNotFound, NotRetryable


class IntegrationError(SelfhealError):
    """Base of every error raised on purpose by the integrations context."""


class ConfigError(InvalidInput):
    """integrations.yaml (or a setting) breaks its schema; `field`/`line` say where."""


class UnknownPlugin(ConfigError):
    """No plugin is registered under the type named in integrations.yaml."""


class MissingSecret(IntegrationError):
    """A secret reference names a secret that no source knows."""


class UngrantedSecret(InvalidInput):
    """A project's webhook uses a secret that no operator granted to that project."""


class BadSignature(Unauthorized):
    """An inbound callback (Slack, Jira) is unsigned, stale or signed with the wrong secret."""


class BlockedUrl(InvalidInput):
    """A URL points at loopback, link-local or a metadata address and is not allowed."""


__all__ = [
    "BadSignature",
    "BlockedUrl",
    "ConfigError",
    "DeliveryNotFound",
    "IntegrationError",
    "MissingSecret",
    "NotRetryable",
    "UngrantedSecret",
    "UnknownPlugin",
]
