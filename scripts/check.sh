#!/usr/bin/env bash
# Install autoglm-doctor into ./.venv on a fresh Debian/Ubuntu machine and check this host.
# Extra arguments go to `autoglm-doctor check` (e.g. --format json, --config FILE).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
need=()
for pkg in python3-venv python3-dev gcc pkg-config libvirt-dev; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq "${need[@]}"
fi
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet -e '.[libvirt]'
exec $SUDO .venv/bin/autoglm-doctor check "$@"
