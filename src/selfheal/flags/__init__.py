"""The flags bounded context."""

from __future__ import annotations

from selfheal.flags.component import FlagsComponent
from selfheal.flags.config import FlagsSettings
from selfheal.flags.errors import (
    EnvironmentNotFound,
    FlagExists,
    FlagNotFound,
    InvalidFlagInput,
    ProjectNotFound,
)
from selfheal.flags.model import Flag, FlagEnvironment, Strategy
from selfheal.flags.service import FlagsService

__all__ = [
    "EnvironmentNotFound",
    "Flag",
    "FlagEnvironment",
    "FlagExists",
    "FlagNotFound",
    "FlagsComponent",
    "FlagsService",
    "FlagsSettings",
    "InvalidFlagInput",
    "ProjectNotFound",
    "Strategy",
]
