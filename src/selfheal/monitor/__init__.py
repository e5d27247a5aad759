"""The monitor bounded context."""

from __future__ import annotations

from selfheal.monitor.component import MonitorComponent
from selfheal.monitor.config import MonitorSettings

__all__ = ["MonitorComponent", "MonitorSettings"]
