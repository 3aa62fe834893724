#!/usr/bin/env bash
# make demo: run the responder on its embedded defaults (SQLite state, dry-run
# actions because no cluster is configured), replay a small alert storm from
# examples/storm/, and show what it made of it.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PORT=${DEMO_PORT:-8080}
URL="http://127.0.0.1:${PORT}"
RUN=.run/demo
rm -rf "$RUN" && mkdir -p "$RUN"

# Embedded defaults, except a short quiet period so the resolve is visible now
# rather than after the real 5–10 minutes.
export ROBOT_SRE_STORE_URL="sqlite:///${RUN}/robot-sre.db"
export ROBOT_SRE_QUIET_PERIOD_SECONDS='{"*": 3}'
export ROBOT_SRE_SWEEP_INTERVAL_SECONDS=1
unset ROBOT_SRE_CONFIG ROBOT_SRE_WEBHOOK_TOKEN

"$BIN/robot-sre" serve --port "$PORT" >"$RUN/responder.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -fsS "$URL/readyz" >/dev/null 2>&1 && break
  kill -0 $PID 2>/dev/null || { cat "$RUN/responder.log"; exit 1; }
  sleep 0.1
done

echo "== Robot SRE is listening on $URL (state: $RUN/robot-sre.db, actions: dry-run)"
echo "== Replaying the alert storm from examples/storm/"
for f in examples/storm/*.json; do
  "$BIN/robot-sre" replay "$f" --url "$URL"
  sleep 0.3
done
sleep 5   # the worker drains the queue; the quiet period of the resolved node passes

"$BIN/python" scripts/demo_report.py "$URL"

cat <<MSG

== Where to look
   incidents   $URL/api/v1/incidents
   one of them $URL/api/v1/incidents/<id>
   taxonomy    $URL/api/v1/taxonomy
   metrics     $URL/metrics
   API schema  $URL/openapi.json
   log         $RUN/responder.log
MSG
if [ -n "${DEMO_EXIT:-}" ]; then
  exit 0
fi
echo "== The responder keeps running; press Ctrl+C to stop."
wait $PID
