#!/usr/bin/env bash
# Install the Debian (12) packages that Gatehouse's integration and e2e suites need:
#   SimpleSAMLphp served by a private Apache + mod_php (test/helpers/simplesamlphp.ts),
#   Chromium driven by playwright-core (test/helpers/browser.ts), Redis (+ Sentinel), nginx, wrk, openssl;
#   and Apache's mod_auth_mellon, the benchmark's mellon baseline (bench/lib/mellon.ts).
#
# Idempotent: when every package is already installed it exits at once, without apt-get update.
# Services stay stopped: a temporary /usr/sbin/policy-rc.d (exit 101 = "action forbidden") stops
# the packages' maintainer scripts from starting a system Apache on 0.0.0.0:80, nginx or Redis;
# the tests run their own private instances. It is removed afterwards, only if we created it.
# Needs root, or sudo.
set -euo pipefail

PACKAGES=(
  apache2 libapache2-mod-php8.2 php8.2-xml php8.2-mbstring php8.2-curl php8.2-cli simplesamlphp
  chromium
  redis-server redis-sentinel nginx wrk openssl curl
  python3-jwt python3-cryptography
  libapache2-mod-auth-mellon
)
POLICY_RC_D=/usr/sbin/policy-rc.d

log() { printf 'install-system-deps: %s\n' "$*" >&2; }

# Prints the packages that are not fully installed, one per line.
missing_packages() {
  local pkg
  for pkg in "${PACKAGES[@]}"; do
    if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]; then
      printf '%s\n' "$pkg"
    fi
  done
}

mapfile -t missing < <(missing_packages)
if [ "${#missing[@]}" -eq 0 ]; then
  log "all ${#PACKAGES[@]} packages already installed"
  exit 0
fi
log "installing: ${missing[*]}"

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { log "must run as root (or with sudo available)"; exit 1; }
  SUDO=(sudo)
fi

created_policy=false
remove_policy() {
  if [ "$created_policy" = true ]; then
    "${SUDO[@]}" rm -f "$POLICY_RC_D"
  fi
}
trap remove_policy EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -e "$POLICY_RC_D" ]; then
  log "$POLICY_RC_D already exists; leaving it as it is"
else
  created_policy=true
  printf '#!/bin/sh\n# Temporary, from .ci/install-system-deps.sh: start no services during install.\nexit 101\n' \
    | "${SUDO[@]}" tee "$POLICY_RC_D" >/dev/null
  "${SUDO[@]}" chmod 0755 "$POLICY_RC_D"
fi

apt_get() {
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y \
    -o DPkg::Lock::Timeout=300 \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"
}

apt_get update
apt_get install "${missing[@]}"

mapfile -t still_missing < <(missing_packages)
if [ "${#still_missing[@]}" -ne 0 ]; then
  log "still not installed: ${still_missing[*]}"
  exit 1
fi
log "done"
