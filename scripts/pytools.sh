#!/usr/bin/env bash
# Makes the Python environment the tests use as protocol oracles: a venv with
# the pinned official `openai` and `twilio` SDKs (and aiosmtpd, radicale) from
# tests/oracles/py/requirements.txt. Prints the venv's python on its last line.
# Usage: scripts/pytools.sh [VENV_DIR]   (default: target/pytools)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-target/pytools}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
req=tests/oracles/py/requirements.txt
stamp="$venv/.requirements"
if ! cmp -s "$req" "$stamp"; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
  cp "$req" "$stamp"
fi
echo "$PWD/$venv/bin/python"
