#!/usr/bin/env bash
# Installs the Debian packages the integration tests need, once. Under CI a failure is fatal;
# locally a missing tool only makes the tests that need it skip (with the reason).
#
# What it will install is printed first. Under CI=true it then proceeds (there is no stdin);
# elsewhere it asks on a terminal, and without one installs only with SELFHEAL_INSTALL_TOOLS=yes.
# Debian's packages would start their services and enable them at boot: a policy-rc.d denies
# every start during the install, and the services of the packages this run installed are
# disabled at boot and, should one still have been started by this run, stopped via `service`.
# Nothing else on the machine is touched: no process is ever stopped by its name.
set -uo pipefail

fail() {
  echo "$1" >&2
  if [ "${CI:-}" = true ]; then exit 1; fi
  exit 0
}

need=()
command -v prometheus >/dev/null || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null || [ -x /usr/bin/prometheus-alertmanager ] || need+=(prometheus-alertmanager)
command -v nginx >/dev/null || need+=(nginx-light)
command -v chromium >/dev/null || need+=(chromium)
command -v wrk >/dev/null || need+=(wrk)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi

echo "scripts/install-tools.sh will apt-get install: ${need[*]}"
echo "  (services they ship are not started and are disabled at boot)"
if [ "${CI:-}" != true ] && [ "${SELFHEAL_INSTALL_TOOLS:-}" != yes ]; then
  if [ -t 0 ]; then
    read -r -p "install them now? [y/N] " answer
    case "$answer" in [yY]*) ;; *) fail "not installing; tests needing ${need[*]} will skip" ;; esac
  else
    fail "not installing without a terminal; rerun with SELFHEAL_INSTALL_TOOLS=yes (tests needing them skip)"
  fi
fi
if [ "$(id -u)" != 0 ]; then
  fail "not root: cannot apt-get install ${need[*]}; tests needing them will skip"
fi

# The services each package we may install ships.
services_of() {
  case "$1" in
    prometheus) echo prometheus ;;
    prometheus-alertmanager) echo prometheus-alertmanager ;;
    nginx-light) echo nginx ;;
  esac
}
ours=()
for pkg in "${need[@]}"; do
  for svc in $(services_of "$pkg"); do ours+=("$svc"); done
done
was_running=()
for svc in "${ours[@]}"; do
  if service "$svc" status >/dev/null 2>&1; then was_running+=("$svc"); fi
done

# Deny service starts while installing (invoke-rc.d honours policy-rc.d, exit 101 = forbidden).
policy=/usr/sbin/policy-rc.d
backup=""
if [ -e "$policy" ]; then
  backup="$(mktemp)"
  cp -p "$policy" "$backup"
fi
restore_policy() {
  if [ -n "$backup" ]; then mv -f "$backup" "$policy"; else rm -f "$policy"; fi
}
trap restore_policy EXIT
printf '#!/bin/sh\nexit 101\n' >"$policy"
chmod 755 "$policy"

export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }; then
  fail "apt-get install failed for: ${need[*]}"
fi

for svc in "${ours[@]}"; do
  # Not enabled at boot: the tests start their own instances.
  if command -v systemctl >/dev/null 2>&1; then systemctl disable "$svc" >/dev/null 2>&1 || true; fi
  update-rc.d "$svc" disable >/dev/null 2>&1 || true
  # Stop it only if this run started it (it was not running before the install).
  case " ${was_running[*]-} " in
    *" $svc "*) ;;
    *) if service "$svc" status >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi ;;
  esac
done
exit 0
