"""Which loader checks which uploaded resource: the resource store calls `validate_resource` on
every upload, so an invalid control file is rejected (400, line and field) and nothing changes."""

from __future__ import annotations

from collections.abc import Callable

from selfheal.control.specs.remediation import Remediation, load_remediation
from selfheal.control.specs.shipyard import Shipyard, load_shipyard
from selfheal.control.specs.sli import Sli, load_sli
from selfheal.control.specs.slo import Slo, load_slo
from selfheal.control.specs.webhook import WebhookConfig, load_webhook

Spec = Shipyard | Remediation | Slo | Sli | WebhookConfig

LOADERS: dict[str, Callable[[str], Spec]] = {
    "shipyard.yaml": load_shipyard,
    "remediation.yaml": load_remediation,
    "remediations.yaml": load_remediation,
    "slo.yaml": load_slo,
    "sli.yaml": load_sli,
    "webhook.yaml": load_webhook,
}


def spec_kind(uri: str) -> str | None:
    """The control file name a resource URI stands for (`dynatrace/sli.yaml` → `sli.yaml`)."""
    name = uri.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1].lower()
    return name if name in LOADERS else None


def validate_resource(uri: str, text: str) -> Spec | None:
    """Parse a resource if it is a control file, raising `SpecError` when it is invalid.
    Other resources (helm charts, test scripts…) are accepted as they are: None."""
    kind = spec_kind(uri)
    if kind is None:
        return None
    return LOADERS[kind](text)


__all__ = ["LOADERS", "Spec", "spec_kind", "validate_resource"]
