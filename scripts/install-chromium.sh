#!/usr/bin/env sh
# Install Debian's chromium for the headless-browser test of the HTML report.
# Idempotent: does nothing when /usr/bin/chromium is already there. Installs with
# apt-get as root (CI) or through passwordless sudo; anywhere else it says why it
# did not install and exits 0, and the browser test skips with the same advice.
set -eu

if [ -x /usr/bin/chromium ]; then
    echo "chromium present: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-chromium.sh: no apt-get here; install chromium at /usr/bin/chromium" \
         "to run the browser test of the HTML report" >&2
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "install-chromium.sh: needs root for apt-get; run 'sudo sh scripts/install-chromium.sh'" \
         "to enable the browser test of the HTML report" >&2
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "chromium installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
