#!/usr/bin/env bash
# Make sure Debian's chromium is at /usr/bin/chromium for the browser tests (test/browser/),
# which drive it with playwright-core. Idempotent; safe to run before every test run.
#
#   1. /usr/bin/chromium exists -> nothing to do.
#   2. Otherwise `apt-get install -y chromium` (as root, or through `sudo -n`); when that
#      fails, `apt-get update` once and try again.
#   3. No apt-get (not Debian/Ubuntu) or no way to become root -> fail with a message that
#      says what to install. `npx playwright install` is no substitute: it downloads from
#      the internet, which CI does not have.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

log() { printf '[chromium] %s\n' "$*" >&2; }
die() { printf '[chromium] ERROR: %s\n' "$*" >&2; exit 1; }

if [[ -x "$CHROMIUM" ]]; then
  exit 0
fi

command -v apt-get >/dev/null 2>&1 ||
  die "$CHROMIUM is missing and apt-get is not available: install Debian's 'chromium' package (or a Chromium binary at $CHROMIUM) to run the browser tests"

if [[ "$(id -u)" -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  die "$CHROMIUM is missing and installing it needs root: run 'sudo apt-get install -y chromium'"
fi

export DEBIAN_FRONTEND=noninteractive
apt_install() { "${as_root[@]}" apt-get install -y --no-install-recommends chromium; }

log "installing chromium with apt-get"
if ! apt_install; then
  # A fresh machine has no package lists yet (or stale ones pointing at removed versions).
  log "install failed; running apt-get update and trying again"
  "${as_root[@]}" apt-get update || die "apt-get update failed: cannot install chromium"
  apt_install || die "apt-get install chromium failed"
fi

[[ -x "$CHROMIUM" ]] || die "chromium was installed but $CHROMIUM does not exist"
log "installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
