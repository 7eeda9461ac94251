#!/usr/bin/env bash
# PDF reports (webapp/reports) are drawn by WeasyPrint, which needs Pango (with
# HarfBuzz and fontconfig) from Debian, and local fonts: nothing is downloaded
# at run time. Quick when already installed; installs as root with apt-get.
set -euo pipefail
PACKAGES="libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 libfontconfig1 fonts-dejavu-core"
missing=""
for package in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $package"
  fi
done
if [ -z "$missing" ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "WeasyPrint needs Debian packages:$missing (apt-get install$missing)." >&2
  exit 1
fi
echo "Installing Debian packages for PDF reports:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing >/dev/null
