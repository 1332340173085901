#!/usr/bin/env sh
# Install Debian's chromium for the headless-browser test of the HTML report.
# Idempotent: does nothing when /usr/bin/chromium is already there.
# Needs root (CI runs as root); otherwise re-run with sudo.
set -eu

if [ -x /usr/bin/chromium ]; then
    echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-chromium.sh: needs root to run apt-get; re-run with sudo" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "chromium installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
