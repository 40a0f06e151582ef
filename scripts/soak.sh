#!/usr/bin/env bash
# Soak: CALLS calls (default 200) held for SECS seconds (default 600) against
# the release engine, with the load generator's model and callers (20 ms
# frames both ways, marks echoed). The engine's resident memory and its live
# calls are sampled every INTERVAL seconds into rss.csv; at the end the curve
# is printed per minute, with the growth after warm-up (WARMUP seconds after
# every call is up) as KiB per minute by least squares.
#
#   scripts/soak.sh                 # 200 calls, 10 minutes
#   NO_BUILD=1 scripts/soak.sh 50 120
#
# Environment: PORT, MODEL_PORT, INTERVAL, WARMUP, RAMP, OUT, NO_BUILD=1.
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=${1:-200}
SECS=${2:-600}
INTERVAL=${INTERVAL:-10}
WARMUP=${WARMUP:-60}
RAMP=${RAMP:-20}
PORT=${PORT:-8090}
MODEL_PORT=${MODEL_PORT:-9190}
TOKEN=soak-auth-token
TARGET_DIR=${CARGO_TARGET_DIR:-target}
OUT=${OUT:-$TARGET_DIR/soak/$(date +%Y%m%d-%H%M%S)}
[ "${NO_BUILD:-0}" = 1 ] || cargo build --release --locked -p frontdesk -p frontdesk-sim --bins
mkdir -p "$OUT"

ENGINE_PID=
LOAD_PID=
cleanup() {
    [ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null || true
    [ -n "$ENGINE_PID" ] && kill "$ENGINE_PID" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT

env FRONTDESK__SERVER__HOST=127.0.0.1 \
    PORT="$PORT" \
    PUBLIC_URL="http://127.0.0.1:$PORT" \
    DATABASE_URL="sqlite://$OUT/frontdesk.db" \
    FRONTDESK__STORAGE__SPILL_PATH="$OUT/spill.jsonl" \
    OPENAI_BASE_URL="http://127.0.0.1:$MODEL_PORT/v1" \
    OPENAI_API_KEY=sk-soak \
    TWILIO_AUTH_TOKEN="$TOKEN" \
    FRONTDESK__CALL__MAX_CALL_SECS=86400 \
    FRONTDESK__CALL__SILENCE_TIMEOUT_SECS=86400 \
    RUST_LOG=warn \
    "$TARGET_DIR/release/frontdesk" serve >"$OUT/engine.log" 2>&1 &
ENGINE_PID=$!
sleep 1
kill -0 "$ENGINE_PID" || { tail -5 "$OUT/engine.log"; exit 1; }

"$TARGET_DIR/release/frontdesk-load" \
    --engine "http://127.0.0.1:$PORT" --model-listen "127.0.0.1:$MODEL_PORT" \
    --calls "$CALLS" --ramp-secs "$RAMP" --settle-secs 5 --steady-secs "$SECS" \
    --barge-ins 0 --auth-token "$TOKEN" --engine-pid "$ENGINE_PID" \
    --json-out "$OUT/load.json" >"$OUT/load.txt" 2>&1 &
LOAD_PID=$!

start=$(date +%s)
echo "t_s,rss_kib,active_calls" >"$OUT/rss.csv"
while kill -0 "$LOAD_PID" 2>/dev/null; do
    rss=$(awk '/^VmRSS/{print $2}' "/proc/$ENGINE_PID/status" 2>/dev/null || echo 0)
    active=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^frontdesk_active_calls /{print $2}')
    echo "$(($(date +%s) - start)),$rss,${active:-0}" >>"$OUT/rss.csv"
    sleep "$INTERVAL"
done
status=0
wait "$LOAD_PID" || status=$?
LOAD_PID=
cat "$OUT/load.txt"
python3 - "$OUT/rss.csv" "$((RAMP + 5 + WARMUP))" <<'PY'
import csv, sys
rows = [(int(r["t_s"]), int(r["rss_kib"]), int(float(r["active_calls"] or 0)))
        for r in csv.DictReader(open(sys.argv[1]))]
warm = int(sys.argv[2])
print(f"\nresident memory of the engine ({sys.argv[1]}):")
print("  t (s)   RSS (KiB)   live calls")
last_minute = -1
for t, rss, active in rows:
    if t // 60 != last_minute or t == rows[-1][0]:
        last_minute = t // 60
        print(f"  {t:5d}   {rss:9d}   {active:10d}")
after = [(t, rss) for t, rss, active in rows if t >= warm and active > 0]
if len(after) >= 3:
    n = len(after)
    mt = sum(t for t, _ in after) / n
    mr = sum(r for _, r in after) / n
    slope = sum((t - mt) * (r - mr) for t, r in after) / sum((t - mt) ** 2 for t, _ in after)
    lo, hi = min(r for _, r in after), max(r for _, r in after)
    print(f"after warm-up ({warm} s on, {n} samples): min {lo} KiB, max {hi} KiB, "
          f"first {after[0][1]} KiB, last {after[-1][1]} KiB, trend {slope * 60:+.1f} KiB/min")
PY
exit "$status"
