"""The control bounded context."""

from __future__ import annotations

from selfheal.control.component import ControlComponent
from selfheal.control.config import ControlSettings

__all__ = ["ControlComponent", "ControlSettings"]
