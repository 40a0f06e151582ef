#!/usr/bin/env bash
# The project's test command (README, CI): sets up the Python protocol oracles
# (the pinned official OpenAI and Twilio SDKs, scripts/pytools.sh), checks that
# PostgreSQL and Redis answer, then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

python=$(scripts/pytools.sh target/pytools | tail -n 1)
export FRONTDESK_PYTHON="$python"

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

cargo test --workspace --all-targets --locked --no-fail-fast
