"""A real Alertmanager delivers to a real responder: amtool fires alerts,
Alertmanager posts webhook v4 payloads with a bearer token, the responder
opens classified incidents and closes them when the alerts resolve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from fixtures.alertmanager import Alertmanager
from fixtures.alerts import pressure
from fixtures.polling import eventually, list_incidents
from fixtures.processes import Responder

WAIT = 30.0

DISK = pressure("worker-1")
REGISTRY = {
    "alertname": "KubeContainerWaiting",
    "taxonomy_type": "registry_pull_failure",
    "namespace": "image-factory",
    "pod": "backend-7c9f8d6b5-x2k4q",
    "container": "backend",
    "severity": "warning",
}
UNKNOWN = {"alertname": "FrobnicatorLagging", "service": "frobnicator", "severity": "info"}

EXPECTED = {
    "disk": (DISK, "node_disk_pressure", {"kind": "node", "namespace": None, "name": "worker-1"}),
    "registry": (
        REGISTRY,
        "registry_pull_failure",
        {"kind": "deployment", "namespace": "image-factory", "name": "backend"},
    ),
    "unknown": (
        UNKNOWN,
        "unclassified",
        {"kind": "service", "namespace": None, "name": "frobnicator"},
    ),
}


def start_responder(alertmanager: Alertmanager, tmp_path: Path) -> Responder:
    env = {
        "ROBOT_SRE_STORE_URL": f"sqlite:///{tmp_path}/state.db",
        "ROBOT_SRE_WEBHOOK_TOKEN": alertmanager.token,
        "ROBOT_SRE_QUIET_PERIOD_SECONDS": '{"*": 1}',
        "ROBOT_SRE_SWEEP_INTERVAL_SECONDS": "0.5",
    }
    return Responder(env, tmp_path, port=alertmanager.webhook_port).start()


def test_alertmanager_alerts_become_classified_incidents_and_resolve(
    alertmanager: Alertmanager, tmp_path: Path
) -> None:
    responder = start_responder(alertmanager, tmp_path)

    def logs() -> str:
        return (
            f"--- responder log ---\n{responder.log_tail()}\n"
            f"--- alertmanager log ---\n{alertmanager.log_tail(2000)}"
        )

    try:
        with httpx.Client(base_url=responder.url, timeout=5) as client:
            for labels, _, _ in EXPECTED.values():
                alertmanager.add_alert(labels)
            fingerprints = {
                name: alertmanager.fingerprint(labels) for name, (labels, _, _) in EXPECTED.items()
            }

            def incident_per_alert(state: str | None = None) -> dict[str, dict[str, Any]] | None:
                found: dict[str, dict[str, Any]] = {}
                for incident in list_incidents(client):
                    for name, fingerprint in fingerprints.items():
                        if fingerprint in incident["fingerprints"]:
                            found[name] = incident
                if len(found) < len(fingerprints):
                    return None
                if state is not None and any(i["state"] != state for i in found.values()):
                    return None
                return found

            opened = eventually(
                incident_per_alert, WAIT, "an incident for each of the three alerts", logs
            )
            for name, (labels, incident_type, scope) in EXPECTED.items():
                incident = opened[name]
                assert incident["incident_type"] == incident_type, name
                assert incident["resource_scope"] == scope, name
                assert incident["fingerprints"] == [fingerprints[name]], name
                alert = incident["alerts"][fingerprints[name]]
                assert alert["status"] == "firing"
                assert alert["labels"] == labels
            assert len({i["id"] for i in opened.values()}) == 3

            for labels, _, _ in EXPECTED.values():
                alertmanager.resolve_alert(labels)

            resolved = eventually(
                lambda: incident_per_alert("resolved"),
                WAIT,
                "every incident to reach state resolved after Alertmanager resolved its alert",
                logs,
            )
            for name, incident in resolved.items():
                assert incident["id"] == opened[name]["id"], name
                assert incident["alerts"][fingerprints[name]]["status"] == "resolved"
    finally:
        responder.stop()
