"""At start the responder reads the blocking alerts already firing in a real
Alertmanager (``/api/v2/alerts``), so the guard rails hold from the first
moment; without Alertmanager it starts all the same."""

from __future__ import annotations

from pathlib import Path

from fixtures.alertmanager import Alertmanager
from fixtures.clock import Clock
from fixtures.processes import free_port, wait_until
from fixtures.rigs import Responder
from starlette.testclient import TestClient

from responder.app import create_app
from responder.settings import Settings
from responder.store import IncidentFilter

BLOCKER = {"alertname": "KubeAPIErrorBudgetBurn", "severity": "critical", "long": "1h"}
OTHER = {"alertname": "SomethingElse", "severity": "warning"}


def test_blocking_alerts_firing_before_start_hold_automatic_actions(
    alertmanager: Alertmanager, tmp_path: Path
) -> None:
    alertmanager.add_alert(BLOCKER)
    alertmanager.add_alert(OTHER)
    wait_until(lambda: len(alertmanager.alerts()) >= 2, 10, "alertmanager to hold both alerts")
    settings = Settings(
        store_url=f"sqlite:///{tmp_path}/s.db",
        alertmanager_url=alertmanager.url,
        blocking_alerts=[{"alertname": "KubeAPIErrorBudgetBurn"}],
    )
    rig = Responder(settings=settings, clock=Clock.from_now())
    runtime = rig.runtime
    assert runtime.guards.snapshot().blocking == ()
    with rig.client:
        names = {
            a.alertname
            for i in runtime.store.list_incidents(IncidentFilter())
            for a in i.alerts.values()
        }
        assert names == {"KubeAPIErrorBudgetBurn"}  # only what a selector names
        assert runtime.guards.snapshot().blocking == ("KubeAPIErrorBudgetBurn",)
    alertmanager.resolve_alert(BLOCKER)
    alertmanager.resolve_alert(OTHER)


def test_a_responder_starts_when_alertmanager_cannot_be_read(tmp_path: Path) -> None:
    settings = Settings(
        store_url=f"sqlite:///{tmp_path}/s.db",
        alertmanager_url=f"http://127.0.0.1:{free_port()}",
        blocking_alerts=[{"alertname": "KubeAPIErrorBudgetBurn"}],
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
