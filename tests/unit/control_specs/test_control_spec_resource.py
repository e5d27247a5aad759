from __future__ import annotations

from pathlib import Path

import pytest

from selfheal.control.specs import (
    Remediation,
    Shipyard,
    Slo,
    SpecError,
    spec_kind,
    validate_resource,
)
from tests.support.paths import SEED


@pytest.mark.parametrize(
    ("uri", "source", "kind"),
    [
        ("shipyard.yaml", SEED / "shipyard.yaml", Shipyard),
        ("/shipyard.yaml", SEED / "formats" / "shipyard.v0.2.yaml", Shipyard),
        ("remediation.yaml", SEED / "remediations.yaml", Remediation),
        (
            "production/front-end/remediation.yaml",
            SEED / "formats" / "remediation.v0.1.4.yaml",
            Remediation,
        ),
        ("slo.yaml", SEED / "formats" / "slo.yaml", Slo),
    ],
)
def test_seed_files_validate(uri: str, source: Path, kind: type) -> None:
    assert isinstance(validate_resource(uri, source.read_text()), kind)


def test_dispatch_by_name() -> None:
    assert spec_kind("prometheus/sli.yaml") == "sli.yaml"
    assert spec_kind("webhook/webhook.yaml") == "webhook.yaml"
    assert spec_kind("helm/values.yaml") is None
    assert validate_resource("helm/values.yaml", "{{ not yaml") is None
    with pytest.raises(SpecError):
        validate_resource("dynatrace/sli.yaml", "indicators: [1]\n")
    with pytest.raises(SpecError):
        validate_resource("slo.yaml", "- just a list\n")
