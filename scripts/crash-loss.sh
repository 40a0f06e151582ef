#!/usr/bin/env bash
# Measures what a process crash loses: runs calls against an engine on SQLite,
# kills it with SIGKILL mid-call, restarts it on the same database, and compares
# the newest record written for each call with the moment of the kill.
#
#   scripts/crash-loss.sh [CALLS] [KILL_AFTER_SECS]
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-5}
kill_after=${2:-4}
cargo build --release --quiet --bin frontdesk
bin=$PWD/target/release/frontdesk
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

port=18080 model_port=19100
export DATABASE_URL="sqlite://$work/frontdesk.db" FRONTDESK__STORAGE__SPILL_PATH="$work/spill.jsonl"
export OPENAI_BASE_URL="http://127.0.0.1:$model_port/v1" TWILIO_AUTH_TOKEN=crash-test PORT=$port
export PUBLIC_URL="http://127.0.0.1:$port" RUST_LOG=warn,frontdesk::record=debug

"$bin" sim-model --listen "127.0.0.1:$model_port" >"$work/model.log" 2>&1 & pids+=($!)
"$bin" serve >"$work/engine.log" 2>&1 & engine=$!; pids+=($engine)  # the log lists every record received
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

for i in $(seq "$calls"); do
  "$bin" simulate --engine "http://127.0.0.1:$port" --auth-token crash-test >"$work/call$i.log" 2>&1 & pids+=($!)
  sleep 0.2
done
sleep "$kill_after"
killed_at=$(python3 -c 'import time; print(time.time())')
kill -9 "$engine"
sleep 0.5

# Restart on the same database: the spill file (if any) is replayed; then read the records.
RUST_LOG=warn "$bin" serve >"$work/engine2.log" 2>&1 & pids+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
sleep 1
"$bin" calls list --limit 100 | awk '{print $1}' > "$work/sids"
python3 - "$work/engine.log" "$work/sids" "$bin" <<'PY'
import collections, json, re, subprocess, sys
received = collections.Counter()
for line in open(sys.argv[1], errors="replace"):
    m = re.search(r'call_sid=(CA[0-9a-f]+) row="?(event|turn)', line)
    if m:
        received[m.group(1)] += 1
lost_total = rows_total = 0
for sid in open(sys.argv[2]).read().split():
    detail = json.loads(subprocess.check_output([sys.argv[3], "calls", "show", sid]))
    stored = len(detail["timeline"]) + len(detail["transcript"])
    lost = received[sid] - stored
    lost_total += lost; rows_total += received[sid]
    print(f"{sid}: {received[sid]} events+turns received by the recorder, {stored} stored, {lost} lost")
print(f"total: {rows_total} received before the kill, {lost_total} lost")
PY
