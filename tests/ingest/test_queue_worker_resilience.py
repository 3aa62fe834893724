"""The queue worker outlives whatever one round of work runs into: a failure
in one round is logged and retried, it never stops the processing of alerts
accepted afterwards (the webhook keeps answering 200 for them)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
from fixtures.backends import Backend, node_incident_lock
from fixtures.polling import eventually, incidents_by_fingerprint, list_incidents
from fixtures.processes import Responder

from responder.store import held_lock

WAIT = 15.0
# sweeps every 0.2 s: several of them meet the lock in this time
LOCKED_FOR = 1.0
# a healthy worker takes well under a second for one alert
AFTER_WAIT = 8.0


def disk_alert(node: str, fingerprint: str, status: str = "firing") -> bytes:
    alert = {
        "status": status,
        "labels": {"alertname": "KubeNodePressure", "condition": "DiskPressure", "node": node},
        "fingerprint": fingerprint,
    }
    return json.dumps({"version": "4", "status": status, "alerts": [alert]}).encode()


def test_worker_keeps_processing_after_the_sweep_meets_a_lock_it_cannot_take(
    tmp_path: Path,
) -> None:
    """A recovering incident whose lock stays taken (a replica killed while
    holding it leaves it for 30 s) is skipped by the sweeps that meet it;
    alerts that arrive meanwhile and afterwards are still processed."""
    backend = Backend.sqlite(tmp_path)
    responder = Responder(
        {
            **backend.env,
            "ROBOT_SRE_SWEEP_INTERVAL_SECONDS": "0.2",
            "ROBOT_SRE_QUIET_PERIOD_SECONDS": '{"*": 3600}',
        },
        tmp_path,
    ).start()
    store = backend.open()
    try:
        with httpx.Client(base_url=responder.url, timeout=5) as client:

            def state_of(fingerprint: str) -> str | None:
                found = incidents_by_fingerprint(list_incidents(client)).get(fingerprint)
                return str(found[0]["state"]) if found else None

            def post(content: bytes) -> None:
                answer = client.post("/webhooks/alertmanager", content=content)
                assert answer.status_code == 200, answer.text

            post(disk_alert("sweep-1", "a100000000000001"))
            eventually(
                lambda: state_of("a100000000000001"), WAIT, "the incident", responder.log_tail
            )
            post(disk_alert("sweep-1", "a100000000000001", status="resolved"))
            eventually(
                lambda: state_of("a100000000000001") == "recovering",
                WAIT,
                "the incident to be recovering",
                responder.log_tail,
            )
            with held_lock(store, node_incident_lock("sweep-1"), ttl_seconds=60):
                time.sleep(LOCKED_FOR)

            post(disk_alert("sweep-2", "a100000000000002"))

            def processed() -> dict[str, Any] | None:
                found = incidents_by_fingerprint(list_incidents(client))
                return found if "a100000000000002" in found else None

            eventually(
                processed,
                AFTER_WAIT,
                "an alert accepted after the failed sweep to be processed",
                lambda: f"queue: {client.get('/readyz').json()}\n{responder.log_tail()}",
            )
    finally:
        store.close()
        responder.stop()
