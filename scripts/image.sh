#!/usr/bin/env bash
# Builds the selfheal image with Debian's podman, offline, from a wheelhouse built on the host.
# Every step is idempotent: packages are installed only when missing, the base rootfs is built
# once and cached (SELFHEAL_IMAGE_CACHE, default ~/.cache/selfheal), the base image is imported
# only when absent.
#
#   bash scripts/image.sh            # -> localhost/selfheal:latest
#   IMAGE=localhost/selfheal:dev SRC=/tmp/checkout bash scripts/image.sh
#   bash scripts/image.sh --env      # print the CONTAINERS_CONF line to eval, build nothing
#
# Variables: IMAGE (tag), SRC (the source tree to build, default: this checkout),
# BASE (default localhost/debian-python:bookworm), PYTHON (builds the wheelhouse; must have the
# base's Python minor version), SELFHEAL_IMAGE_CACHE.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
SRC="${SRC:-$here}"
IMAGE="${IMAGE:-localhost/selfheal:latest}"
BASE="${BASE:-localhost/debian-python:bookworm}"
CACHE="${SELFHEAL_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/selfheal}"
PYTHON="${PYTHON:-$here/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
mkdir -p "$CACHE"

# --- containers.conf: runc (crun fails on this host's hybrid cgroups), limits root may not raise
conf="$CACHE/containers.conf"
cat > "$conf.new" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
CONF
if ! cmp -s "$conf.new" "$conf"; then mv "$conf.new" "$conf"; else rm -f "$conf.new"; fi
export CONTAINERS_CONF="$conf"
if [ "${1:-}" = "--env" ]; then
  echo "export CONTAINERS_CONF=$conf"
  exit 0
fi

# --- Debian packages, only the missing ones
need=()
for tool in podman buildah mmdebstrap runc; do
  command -v "$tool" >/dev/null || need+=("$tool")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "${CI:-}" != true ]; then
    echo "image.sh will apt-get install: ${need[*]}" >&2
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "image.sh: not root, cannot install ${need[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# --- the base: a Debian bookworm rootfs with python3 + venv, cached, imported as localhost/
if [ "$BASE" = localhost/debian-python:bookworm ] && ! podman image exists "$BASE"; then
  rootfs="$CACHE/debian-python-bookworm.tar"
  if [ ! -s "$rootfs" ]; then
    echo "image.sh: building the bookworm base rootfs (about 30 s) into $rootfs" >&2
    part="$CACHE/debian-python-bookworm.part.tar"  # mmdebstrap picks the format by the name
    mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates \
      --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr bookworm "$part" \
      >"$CACHE/mmdebstrap.log" 2>&1 || { tail -20 "$CACHE/mmdebstrap.log" >&2; exit 1; }
    mv "$part" "$rootfs"
  fi
  podman import --change 'CMD ["/bin/bash"]' "$rootfs" "$BASE" >/dev/null
fi

# --- the wheelhouse: selfheal and every dependency as wheels, built on the host. The
# dependencies' wheels are kept in $CACHE/wheelhouse; a build first tries them alone (no index)
# and asks the index only when pyproject.toml wants something the cache does not have.
stage="$(mktemp -d "${TMPDIR:-/tmp}/selfheal-image.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
wheels="$CACHE/wheelhouse"
mkdir -p "$stage/build/wheelhouse" "$wheels"
rm -f "$wheels"/selfheal-*.whl
pipwheel=("$PYTHON" -m pip wheel --quiet --disable-pip-version-check --cache-dir "$CACHE/pip"
  --find-links "$wheels" --wheel-dir "$wheels")
if ! "${pipwheel[@]}" --no-index "$SRC" >/dev/null 2>&1; then
  "${pipwheel[@]}" "$SRC"
fi
# only what this source needs goes into the build context
"$PYTHON" -m pip install --quiet --disable-pip-version-check --no-index --find-links "$wheels" \
  --dry-run --ignore-installed --report "$stage/report.json" selfheal >/dev/null
"$PYTHON" - "$stage/report.json" "$wheels" "$stage/build/wheelhouse" <<'PY'
import json, os, sys
from urllib.parse import unquote, urlparse
report, wheels, out = sys.argv[1:]
for item in json.load(open(report))["install"]:
    name = os.path.basename(unquote(urlparse(item["download_info"]["url"]).path))
    os.link(os.path.join(wheels, name), os.path.join(out, name))
PY
cp "$SRC/Containerfile" "$stage/Containerfile"

# --- the image: RUN steps get no network at all; no intermediate images are kept (the
# build stage would stay behind as a dangling 470 MB image)
old=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
started=$(date +%s)
podman build --quiet --format docker --network none --pull=never --layers=false \
  --build-arg "BASE=$BASE" --tag "$IMAGE" -f "$stage/Containerfile" "$stage" >/dev/null
new=$(podman image inspect --format '{{.Id}}' "$IMAGE")
if [ -n "$old" ] && [ "$old" != "$new" ] \
  && [ -z "$(podman image inspect --format '{{join .RepoTags ""}}' "$old" 2>/dev/null)" ]; then
  podman rmi "$old" >/dev/null 2>&1 || true  # the image this tag named before, now untagged
fi
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
echo "image.sh: built $IMAGE ($((size / 1000000)) MB) from $SRC on $BASE in $(( $(date +%s) - started )) s" >&2
