#!/usr/bin/env bash
# User-space instructions per relayed frame, under callgrind: a figure that
# other processes on the machine cannot move (docs/benchmarks.md).
#
#   scripts/callgrind.sh                      # frontdesk and the bare relay
#   scripts/callgrind.sh frontdesk            # one of them
#   FRONTDESK_BIN=/path/to/old/frontdesk scripts/callgrind.sh frontdesk
#
# Each target runs the same small workload twice under
# `valgrind --tool=callgrind`: CALLS calls with a SHORT and a LONG
# measurement window. Startup, the ramp, barge-ins and hang-up are the same
# in both runs, so
#
#   instructions per frame = (Ir_long - Ir_short) / (frames_long - frames_short)
#
# where frames are the frames the generator received from the target in its
# window, both directions (caller->model appends + model->caller media).
# Marks, echoes and everything else the target does per frame are inside
# Ir; the frames counted are the relayed audio frames only, so a target that
# sends fewer marks per frame shows it as fewer instructions per frame.
#
# Environment: CALLS (3), SHORT (4), LONG (12) seconds, WORKERS (1: the
# engine's HTTP workers), PORT, MODEL_PORT, OUT, NO_BUILD=1, FRONTDESK_BIN,
# RELAY_BIN. The load generator runs natively; only the target is under
# valgrind (about 50x slower), so keep CALLS small: the target must keep up.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(frontdesk relay)
CALLS=${CALLS:-3}
SHORT=${SHORT:-4}
LONG=${LONG:-12}
WORKERS=${WORKERS:-1}
PORT=${PORT:-8090}
MODEL_PORT=${MODEL_PORT:-9190}
TOKEN=bench-auth-token
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${OUT:-$TARGET_DIR/callgrind/$(date +%Y%m%d-%H%M%S)}
FRONTDESK_BIN=${FRONTDESK_BIN:-$TARGET_DIR/release/frontdesk}
RELAY_BIN=${RELAY_BIN:-$TARGET_DIR/release/frontdesk-relay}
LOAD_BIN=$TARGET_DIR/release/frontdesk-load

command -v valgrind >/dev/null || { echo "callgrind.sh needs valgrind" >&2; exit 1; }
if [ "${NO_BUILD:-0}" != 1 ]; then
    cargo build --release -p frontdesk -p frontdesk-sim --bins
fi
mkdir -p "$OUT"
ulimit -n "$(ulimit -Hn)"

TARGET_PID=
stop_target() {
    if [ -n "$TARGET_PID" ] && kill -0 "$TARGET_PID" 2>/dev/null; then
        kill -TERM "$TARGET_PID" 2>/dev/null || true
        # callgrind writes its totals on exit: give the slow process time.
        for _ in $(seq 600); do
            kill -0 "$TARGET_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$TARGET_PID" 2>/dev/null || true
    fi
    [ -n "$TARGET_PID" ] && wait "$TARGET_PID" 2>/dev/null || true
    TARGET_PID=
}
trap stop_target EXIT

wait_port() {
    for _ in $(seq 300); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on port $1" >&2
    return 1
}

# Runs one target for one window length; prints "Ir frames".
run_one() {
    local name=$1 steady=$2
    local cg="$OUT/$name-$steady.callgrind" log="$OUT/$name-$steady.log" json="$OUT/$name-$steady.json"
    local vg=(valgrind --tool=callgrind --callgrind-out-file="$cg" --dump-instr=no)
    case $name in
        frontdesk)
            env FRONTDESK__SERVER__WORKERS="$WORKERS" FRONTDESK__SERVER__HOST=127.0.0.1 \
                PORT="$PORT" PUBLIC_URL="http://127.0.0.1:$PORT" \
                OPENAI_BASE_URL="http://127.0.0.1:$MODEL_PORT/v1" OPENAI_API_KEY=sk-bench \
                TWILIO_AUTH_TOKEN="$TOKEN" \
                FRONTDESK__CALL__MAX_CALL_SECS=86400 FRONTDESK__CALL__SILENCE_TIMEOUT_SECS=86400 \
                RUST_LOG=warn "${vg[@]}" "$FRONTDESK_BIN" serve >"$log" 2>&1 &
            ;;
        relay)
            "${vg[@]}" "$RELAY_BIN" --listen "127.0.0.1:$PORT" --public-ws "ws://127.0.0.1:$PORT" \
                --model-url "ws://127.0.0.1:$MODEL_PORT/v1/realtime?model=gpt-realtime" >"$log" 2>&1 &
            ;;
        *) echo "unknown target $name (frontdesk | relay)" >&2; return 1 ;;
    esac
    TARGET_PID=$!
    wait_port "$PORT"
    "$LOAD_BIN" --engine "http://127.0.0.1:$PORT" --model-listen "127.0.0.1:$MODEL_PORT" \
        --calls "$CALLS" --ramp-secs 1 --settle-secs 3 --steady-secs "$steady" --barge-ins 0 \
        --auth-token "$TOKEN" --json-out "$json" >"$OUT/$name-$steady.txt"
    stop_target
    local ir frames
    ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p; s/^totals: *\([0-9]*\).*/\1/p' "$cg" | head -1)
    frames=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["to_model"]["received"]+r["to_caller"]["received"])' "$json")
    echo "$ir $frames"
}

printf '%-10s %16s %8s %16s %8s %14s\n' target "Ir short" frames "Ir long" frames "Ir/frame" | tee "$OUT/result.txt"
for t in "${TARGETS[@]}"; do
    read -r ir_s fr_s < <(run_one "$t" "$SHORT")
    read -r ir_l fr_l < <(run_one "$t" "$LONG")
    per=$(python3 -c "print(round(($ir_l - $ir_s) / max(1, $fr_l - $fr_s)))")
    printf '%-10s %16s %8s %16s %8s %14s\n' "$t" "$ir_s" "$fr_s" "$ir_l" "$fr_l" "$per" | tee -a "$OUT/result.txt"
done
echo "results: $OUT"
