#!/usr/bin/env bash
# Set up everything the test suite needs on a fresh Debian/Ubuntu machine and run it:
# Debian packages, dockerd, libvirtd, the busybox test image (.ci/services.sh), a venv with the
# project and its test and libvirt extras, then pytest. Needs root (or sudo) for the services.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO bash .ci/services.sh
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install --quiet -e '.[test,libvirt]'
export CI="${CI:-true}"
# lint and types first (seconds): the rule set and the strict modules are stated in pyproject.toml
.venv/bin/ruff check autoglm_doctor checks fixes tests scripts bench
.venv/bin/mypy
exec $SUDO env CI="$CI" PATH="$PATH" .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
