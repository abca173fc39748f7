#!/usr/bin/env bash
# Smoke run under Deno 2: start the same service with `deno task start` on the embedded default,
# register seattle-weather.csv, check the profile, stop.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${SMOKE_PORT:-18081}
DATA_DIR=$(mktemp -d)
LOG=$(mktemp)
cleanup() { [ -n "${PID:-}" ] && kill -- "-$PID" 2>/dev/null; wait "${PID:-}" 2>/dev/null || true; rm -rf "$DATA_DIR"; }
trap cleanup EXIT
PORT=$PORT DATA_DIR=$DATA_DIR setsid npx deno task start > "$LOG" 2>&1 < /dev/null &
PID=$!
for _ in $(seq 1 90); do
  curl -sf --max-time 5 -o /dev/null "http://127.0.0.1:$PORT/readyz" && break
  kill -0 "$PID" 2>/dev/null || { echo "deno exited early:"; cat "$LOG"; exit 1; }
  sleep 1
done
BODY=$(curl -sf --max-time 60 -X POST "http://127.0.0.1:$PORT/v1/datasets?name=seattle-weather" \
  -H 'content-type: text/csv' --data-binary @node_modules/vega-datasets/data/seattle-weather.csv) || { echo "registration failed"; cat "$LOG"; exit 1; }
ROWS=$(printf '%s' "$BODY" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).profile.rows))')
if [ "$ROWS" != "1461" ]; then echo "unexpected profile: $BODY"; exit 1; fi
echo "deno smoke: registered seattle-weather.csv under $(npx deno --version | head -1): $ROWS rows"
# The trainer CLI under Deno too: list what was just registered.
LISTED=$(TRAINER_URL="http://127.0.0.1:$PORT" npx deno task cli datasets list --json 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).map(d=>d.name).join(",")))') || { echo "trainer CLI under deno failed"; exit 1; }
if [ "$LISTED" != "seattle-weather" ]; then echo "trainer datasets list under deno: $LISTED"; exit 1; fi
echo "deno smoke: trainer datasets list → $LISTED"
