"""The deploy files without containers: Kubernetes overlays render and validate, the
Containerfile passes hadolint, compose.yaml has the stack's shape, the systemd unit verifies —
and every SELFHEAL_* variable they set is a setting selfheal knows."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from selfheal.settings import unknown_variables
from tests.conftest import require_tool
from tests.support.paths import REPO

pytestmark = pytest.mark.deploy


def checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "check_deploy", REPO / "scripts" / "check_deploy.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def unknown_settings(names: set[str]) -> list[str]:
    """The SELFHEAL_* names that are no setting (the server refuses them at start)."""
    return unknown_variables(dict.fromkeys(names, ""))


def rendered(overlay: str) -> list[dict[str, Any]]:
    require_tool("kubectl")
    docs: list[dict[str, Any]] = checker().render(
        REPO / "deploy" / "kubernetes" / "overlays" / overlay
    )
    return docs


def test_kubernetes_overlays_render_and_validate() -> None:
    require_tool("kubectl")
    assert list(checker().overlays(REPO)) == []


def test_kubernetes_validation_finds_a_broken_overlay(tmp_path: Path) -> None:
    """The check can fail: a string for replicas; a misspelt field (strict validation)."""
    require_tool("kubectl")
    overlay = tmp_path / "deploy" / "kubernetes" / "overlays" / "broken"
    overlay.mkdir(parents=True)
    (overlay / "kustomization.yaml").write_text("resources: [deployment.yaml, service.yaml]\n")
    (overlay / "deployment.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n"
        "spec:\n  replicas: three\n  selector: {matchLabels: {a: b}}\n"
        "  template:\n    metadata: {labels: {a: b}}\n"
        "    spec: {containers: [{name: x, image: x}]}\n"
    )
    (overlay / "service.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {prots: []}\n"
    )
    found = list(checker().overlays(tmp_path))
    assert any("replicas" in f for f in found), found
    assert any("prots" in f for f in found), found


def test_kubernetes_overlays_have_what_operators_expect() -> None:
    for overlay, replicas in (("single", 1), ("scale-out", 3)):
        docs = {d["kind"]: d for d in rendered(overlay)}
        assert {"Deployment", "Service", "PodDisruptionBudget", "ConfigMap"} <= set(docs)
        deployment = docs["Deployment"]
        assert deployment["spec"]["replicas"] == replicas
        pod = deployment["spec"]["template"]["spec"]
        [container] = pod["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["resources"]["requests"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        secrets = [
            e for e in container["env"] if "secretKeyRef" in e.get("valueFrom", {})
        ]  # secrets by reference only: no Secret object is rendered
        assert secrets and "Secret" not in docs
        names = {e["name"] for e in container["env"]} | set(docs["ConfigMap"]["data"])
        assert unknown_settings({n for n in names if n.startswith("SELFHEAL_")}) == []
    single = {d["kind"]: d for d in rendered("single")}
    assert single["Deployment"]["spec"]["strategy"]["type"] == "Recreate"
    assert "PersistentVolumeClaim" in single
    monitored = [d["kind"] for d in rendered("scale-out-monitored")]
    assert "ServiceMonitor" in monitored


def test_containerfile_passes_hadolint_and_a_bad_one_does_not(tmp_path: Path) -> None:
    check = checker()
    assert list(check.hadolint(REPO / "Containerfile")) == []
    bad = tmp_path / "Containerfile"
    bad.write_text("FROM debian:bookworm\nRUN apt-get update && apt-get install -y curl\n")
    assert any("DL3008" in line or "DL3015" in line for line in check.hadolint(bad))


def interpolate(value: str) -> str:
    """compose's `${VAR:-default}` / `${VAR:?message}` as an operator without .env gets them."""
    value = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)
    return re.sub(r"\$\{[A-Z_]+:\?[^}]*\}", "set-by-the-operator", value)


def test_compose_file_has_the_scale_out_stack() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    services = compose["services"]
    replicas = [f"selfheal-{n}" for n in (1, 2, 3)]
    assert set(services) == {*replicas, "postgres", "nats", "nginx"}
    for name in ("postgres", "nats", "nginx"):
        assert services[name]["healthcheck"]["test"], name
    assert "--jetstream" in services["nats"]["command"]
    ids = set()
    for name in replicas:
        service = services[name]
        assert service["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "nats": {"condition": "service_healthy"},
        }
        env = {k: interpolate(str(v)) for k, v in service["environment"].items()}
        assert env["SELFHEAL_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["SELFHEAL_BUS_URL"] == "nats://nats:4222"
        ids.add(env["SELFHEAL_CONTROL__REPLICA_ID"])
        assert unknown_settings({k for k in env if k.startswith("SELFHEAL_")}) == []
    assert len(ids) == 3, "each replica needs its own lease owner id"
    nginx = services["nginx"]
    assert set(nginx["depends_on"]) == set(replicas)
    [mount] = nginx["volumes"]
    source = mount.split(":")[0]
    assert (REPO / source).resolve() == (REPO / "deploy" / "nginx" / "selfheal.conf")
    upstreams = re.findall(r"server (selfheal-\d):4242", (REPO / source).read_text())
    assert upstreams == replicas


def test_unknown_settings_are_caught() -> None:
    assert unknown_settings({"SELFHEAL_PORT", "SELFHEAL_CONTROL__REPLICA_ID"}) == []
    assert unknown_settings({"SELFHEAL_PROT", "SELFHEAL_CONTROL__REPLICAID"}) == [
        "SELFHEAL_CONTROL__REPLICAID",
        "SELFHEAL_PROT",
    ]


def test_systemd_unit_verifies_and_is_hardened(tmp_path: Path) -> None:
    """`systemd-analyze` is part of Debian's systemd package, so CI must have it. The unit's
    ExecStart points at this venv's selfheal, since verify checks the binary exists."""
    analyze = require_tool("systemd-analyze")
    source = REPO / "deploy" / "systemd" / "selfheal.service"
    text = source.read_text()
    assert "StateDirectory=selfheal" in text and "User=selfheal" in text
    unit = tmp_path / "selfheal.service"
    unit.write_text(text.replace("/opt/selfheal/bin/selfheal", str(REPO / ".venv/bin/selfheal")))
    verify = subprocess.run(
        [analyze, "verify", str(unit)], check=False, capture_output=True, text=True
    )
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr
    # exposure on systemd's 0-10 scale; 2.0 is "OK" (the unit scores 1.4 on systemd 252)
    security = subprocess.run(
        [analyze, "security", "--offline=yes", "--threshold=20", str(unit)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert security.returncode == 0, security.stdout[-3000:]
    names = set(re.findall(r"^Environment=(SELFHEAL_[A-Z_]+)=", text, re.MULTILINE))
    assert names and unknown_settings(names) == []
