#!/usr/bin/env bash
# make demo: run the responder on its embedded defaults (SQLite state) against
# an emulated cluster (scripts/demo_cluster.py: the Kubernetes API emulator the
# tests use, seeded with a small OKE-like cluster), replay a small alert storm
# from examples/, and show what it made of it and what it changed.
# DEMO_CLUSTER=none: no cluster, so every action is a dry run (the storm alone).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
PORT=${DEMO_PORT:-8080}
URL="http://127.0.0.1:${PORT}"
RUN=.run/demo
rm -rf "$RUN" && mkdir -p "$RUN"

# Embedded defaults, except a short quiet period so the resolve is visible now
# rather than after the real 5–10 minutes, and a 2-second first ladder step
# (the real one gives containment 10 minutes) polled every second, so that the
# robot asks a person to cordon while you watch.
export ROBOT_SRE_STORE_URL="sqlite:///${RUN}/robot-sre.db"
export ROBOT_SRE_QUIET_PERIOD_SECONDS='{"*": 3}'
export ROBOT_SRE_SWEEP_INTERVAL_SECONDS=1
export ROBOT_SRE_ESCALATION_WINDOW_SECONDS=2 ROBOT_SRE_OBSERVATION_POLL_SECONDS=1
unset ROBOT_SRE_CONFIG ROBOT_SRE_WEBHOOK_TOKEN ROBOT_SRE_KUBECONFIG KUBECONFIG

# an admin for the UI (Approve / Deny); the API stays open on this machine
# for the report below
ADMIN_PASSWORD=$("$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(12))')
export ROBOT_SRE_ADMIN_USER=demo ROBOT_SRE_ADMIN_PASSWORD="$ADMIN_PASSWORD" ROBOT_SRE_API_AUTH=off

CLUSTER=${DEMO_CLUSTER:-emulated}
CLUSTER_PID=""
WRITES=""
if [ "$CLUSTER" = emulated ]; then
  "$BIN/python" scripts/demo_cluster.py "$RUN/cluster" >"$RUN/cluster.log" 2>&1 &
  CLUSTER_PID=$!
  for _ in $(seq 100); do
    [ -f "$RUN/cluster/kubeconfig" ] && break
    kill -0 $CLUSTER_PID 2>/dev/null || { cat "$RUN/cluster.log"; exit 1; }
    sleep 0.1
  done
  export ROBOT_SRE_KUBECONFIG="$RUN/cluster/kubeconfig" ROBOT_SRE_DRY_RUN=false
  WRITES="$RUN/cluster/writes.json"
  ACTIONS="applied to the emulated cluster"
else
  ACTIONS="dry-run"
fi

"$BIN/robot-sre" serve --port "$PORT" >"$RUN/responder.log" 2>&1 &
PID=$!
trap 'kill $PID $CLUSTER_PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -fsS "$URL/readyz" >/dev/null 2>&1 && break
  kill -0 $PID 2>/dev/null || { cat "$RUN/responder.log"; exit 1; }
  sleep 0.1
done

echo "== Robot SRE is listening on $URL (state: $RUN/robot-sre.db, actions: $ACTIONS)"
if [ "$CLUSTER" = emulated ]; then
  echo "== First, one node fills its disk (examples/demo/)"
  "$BIN/robot-sre" replay examples/demo/00-first-node.json --url "$URL"
  # evidence from the cluster, the decision and the containment; the pressure
  # persists past the first ladder step, so the robot asks to cordon the node
  sleep 4
fi
echo "== Replaying the alert storm from examples/storm/"
for f in examples/storm/*.json; do
  "$BIN/robot-sre" replay "$f" --url "$URL"
  sleep 0.3
done
sleep 5   # the worker drains the queue; the quiet period of the resolved node passes

if [ -n "$CLUSTER_PID" ]; then
  kill -USR1 "$CLUSTER_PID" && sleep 0.5   # the emulator writes what was changed
fi
"$BIN/python" scripts/demo_report.py "$URL" $WRITES

cat <<MSG

== Where to look
   incidents   $URL/api/v1/incidents
   one of them $URL/api/v1/incidents/<id>
   taxonomy    $URL/api/v1/taxonomy
   approve     $URL/admin/approvals (user demo, password $ADMIN_PASSWORD)
   metrics     $URL/metrics
   API schema  $URL/openapi.json
   log         $RUN/responder.log
MSG
if [ -n "${DEMO_EXIT:-}" ]; then
  exit 0
fi
echo "== The responder keeps running; press Ctrl+C to stop."
wait $PID
