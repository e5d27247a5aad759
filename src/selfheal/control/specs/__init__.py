"""The control plane's declarative files — shipyard, remediation, SLO, SLI, webhook — parsed
into frozen dataclasses with line-precise `SpecError`s, and lighthouse scoring of an SLO."""

from __future__ import annotations

from selfheal.control.specs.lighthouse import IndicatorResult, SloResult, Target, evaluate_slo
from selfheal.control.specs.remediation import Action, Remediation, Rule, load_remediation
from selfheal.control.specs.resource import Spec, spec_kind, validate_resource
from selfheal.control.specs.restore import RestorePolicy
from selfheal.control.specs.shipyard import (
    LEGACY_EVALUATION_WAIT,
    Sequence,
    Shipyard,
    Stage,
    Task,
    Trigger,
    load_shipyard,
    parse_duration,
)
from selfheal.control.specs.sli import Sli, load_sli
from selfheal.control.specs.slo import (
    Comparison,
    CriteriaSet,
    Criterion,
    Objective,
    Slo,
    default_slo,
    load_slo,
)
from selfheal.control.specs.webhook import (
    Header,
    SecretEnv,
    Webhook,
    WebhookConfig,
    WebhookRequest,
    load_webhook,
)
from selfheal.core.documents import SpecError

__all__ = [
    "LEGACY_EVALUATION_WAIT",
    "Action",
    "Comparison",
    "CriteriaSet",
    "Criterion",
    "Header",
    "IndicatorResult",
    "Objective",
    "Remediation",
    "RestorePolicy",
    "Rule",
    "SecretEnv",
    "Sequence",
    "Shipyard",
    "Sli",
    "Slo",
    "SloResult",
    "Spec",
    "SpecError",
    "Stage",
    "Target",
    "Task",
    "Trigger",
    "Webhook",
    "WebhookConfig",
    "WebhookRequest",
    "default_slo",
    "evaluate_slo",
    "load_remediation",
    "load_shipyard",
    "load_sli",
    "load_slo",
    "load_webhook",
    "parse_duration",
    "spec_kind",
    "validate_resource",
]
