#!/bin/sh
# Node.js and npm for the editor's build check (frontend/). Installs Debian's
# nodejs and npm when they are missing and we are root (as on CI); otherwise
# says what to install.
set -eu
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "quorum: installing nodejs and npm (apt) for the editor build check"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
    exit 0
fi
echo "quorum: node and npm are needed to check the editor bundle (frontend/); install Node.js >= 18" >&2
exit 2
