#!/usr/bin/env bash
# The project's test command (README, CI): sets up the Python conformance
# oracles (the official OpenAI and Twilio SDKs, from ../shared/tools), checks
# that PostgreSQL and Redis answer, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

shared=${FRONTDESK_SHARED_DIR:-$(cd .. && pwd)/shared}
if [ ! -f "$shared/tools/setup.sh" ]; then
  echo "error: $shared/tools not found; set FRONTDESK_SHARED_DIR to the shared/ folder" >&2
  exit 1
fi
python=$(bash "$shared/tools/setup.sh" "$PWD/target/pytools" | tail -n 1)
export FRONTDESK_PYTHON="$python" FRONTDESK_SHARED_DIR="$shared"
"$python" -m pip install -q --disable-pip-version-check aiosmtpd==1.4.6

export TEST_DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
export TEST_REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379}
python3 - "$TEST_DATABASE_URL" "$TEST_REDIS_URL" <<'PY'
import socket, sys, urllib.parse
for url in sys.argv[1:]:
    u = urllib.parse.urlparse(url)
    try:
        socket.create_connection((u.hostname, u.port), timeout=3).close()
    except OSError as e:
        sys.exit(f"error: {u.scheme} at {u.hostname}:{u.port} is not answering ({e}); .ci/run starts it")
PY

cargo test --all-targets --locked --no-fail-fast
