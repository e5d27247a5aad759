"""The flags bounded context."""

from __future__ import annotations

from selfheal.flags.component import FlagsComponent
from selfheal.flags.config import FlagsSettings

__all__ = ["FlagsComponent", "FlagsSettings"]
