"""The control bounded context: projects, resources, sequences, remediation, evaluation."""

from __future__ import annotations

from selfheal.control.actions import (
    ActionProvider,
    ActionRequest,
    ActionResult,
    NoopActionProvider,
    ResourceReader,
)
from selfheal.control.component import ControlComponent
from selfheal.control.config import ControlSettings
from selfheal.control.evaluation import SliProvider, SliScope
from selfheal.control.messages import keptn_message, outcome_words
from selfheal.control.sequences import Sequence
from selfheal.control.service import ControlService, ResourceCheck
from selfheal.control.specs import Action

__all__ = [
    "Action",
    "ActionProvider",
    "ActionRequest",
    "ActionResult",
    "ControlComponent",
    "ControlService",
    "ControlSettings",
    "NoopActionProvider",
    "ResourceCheck",
    "ResourceReader",
    "Sequence",
    "SliProvider",
    "SliScope",
    "keptn_message",
    "outcome_words",
]
