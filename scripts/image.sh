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

# --- the wheelhouse: selfheal and every dependency as wheels, built on the host
stage="$(mktemp -d "${TMPDIR:-/tmp}/selfheal-image.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/build/wheelhouse"
"$PYTHON" -m pip wheel --quiet --disable-pip-version-check --cache-dir "$CACHE/pip" \
  --wheel-dir "$stage/build/wheelhouse" "$SRC"
cp "$here/Containerfile" "$stage/Containerfile"

# --- the image: RUN steps get no network at all
podman build --quiet --format docker --network none --pull=never \
  --build-arg "BASE=$BASE" --tag "$IMAGE" -f "$stage/Containerfile" "$stage" >/dev/null
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
echo "image.sh: built $IMAGE ($((size / 1000000)) MB) from $SRC on $BASE" >&2
