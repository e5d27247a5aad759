"""The monitor bounded context: sources, SLIs, detectors, problems, comments, intake."""

from __future__ import annotations

from selfheal.monitor.component import MonitorComponent
from selfheal.monitor.config import MonitorSettings, WebhookSettings
from selfheal.monitor.declarations import load_services
from selfheal.monitor.probes import ProbeOutcome
from selfheal.monitor.problems import Comment, Problem
from selfheal.monitor.service import MonitorService
from selfheal.monitor.services import ProbeSpec

__all__ = [
    "Comment",
    "MonitorComponent",
    "MonitorService",
    "MonitorSettings",
    "ProbeOutcome",
    "ProbeSpec",
    "Problem",
    "WebhookSettings",
    "load_services",
]
