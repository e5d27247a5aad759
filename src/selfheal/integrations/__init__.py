"""The integrations bounded context."""

from __future__ import annotations

from selfheal.integrations.component import IntegrationsComponent
from selfheal.integrations.config import IntegrationsSettings

__all__ = ["IntegrationsComponent", "IntegrationsSettings"]
