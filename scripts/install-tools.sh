#!/usr/bin/env bash
# Installs the Debian packages the integration tests need, once. Under CI a failure is fatal;
# locally a missing tool only makes the tests that need it skip (with the reason).
set -uo pipefail
need=()
command -v prometheus >/dev/null || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null || [ -x /usr/bin/prometheus-alertmanager ] || need+=(prometheus-alertmanager)
command -v nginx >/dev/null || need+=(nginx-light)
command -v chromium >/dev/null || need+=(chromium)
command -v wrk >/dev/null || need+=(wrk)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
echo "installing: ${need[*]}"
if [ "$(id -u)" != 0 ]; then
  echo "not root: cannot apt-get install ${need[*]}; tests needing them will skip" >&2
  [ "${CI:-}" = true ] && exit 1 || exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }; then
  echo "apt-get install failed for: ${need[*]}" >&2
  [ "${CI:-}" = true ] && exit 1
fi
# Debian's packages start services on install; the tests start their own instances.
for svc in prometheus prometheus-alertmanager nginx; do
  (service "$svc" stop || pkill -x "$svc") >/dev/null 2>&1 || true
done
exit 0
