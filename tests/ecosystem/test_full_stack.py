"""The whole chain on loopback: a kube-state-metrics-style exporter reports a
node in disk pressure, a real Prometheus evaluates alert_rules/ and fires
NodeDiskPressure to a real Alertmanager, which posts it to a real responder;
the node_disk_pressure incident appears. Then every query of the Grafana
dashboard runs against that Prometheus (which also scrapes the responder):
each must parse, and the key panels must return data.

The shipped rules wait 2-15 minutes (``for:``) before firing; the test loads
copies with every ``for:`` set to 0s so that the chain completes in seconds.
Nothing else in the rules is changed.
"""

from __future__ import annotations

import json
import math
import re
import secrets
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fixtures.alertmanager import Alertmanager, start_alertmanager
from fixtures.ecosystem import DASHBOARD, rule_files
from fixtures.polling import eventually, list_incidents
from fixtures.processes import Responder, free_port
from fixtures.prometheus import Prometheus, StaticExporter, start_prometheus

WAIT = 60.0

NODE = "worker-1"


def kube_state_metrics(disk_pressure: bool) -> str:
    """What kube-state-metrics reports for one node."""
    pressure = {"true": int(disk_pressure), "false": int(not disk_pressure), "unknown": 0}
    lines = [
        "# HELP kube_node_info Information about a cluster node.",
        "# TYPE kube_node_info gauge",
        f'kube_node_info{{node="{NODE}",kernel_version="6.1.0",os_image="Oracle Linux 8",'
        f'provider_id="ocid1.instance.oc1.eu-frankfurt-1.worker1"}} 1',
        "# HELP kube_node_status_condition The condition of a cluster node.",
        "# TYPE kube_node_status_condition gauge",
    ]
    for condition, statuses in (
        ("Ready", {"true": 1, "false": 0, "unknown": 0}),
        ("DiskPressure", pressure),
        ("MemoryPressure", {"true": 0, "false": 1, "unknown": 0}),
    ):
        for status, value in statuses.items():
            lines.append(
                f'kube_node_status_condition{{node="{NODE}",condition="{condition}",'
                f'status="{status}"}} {value}'
            )
    lines += [
        "# HELP kube_node_spec_taint The taint of a cluster node.",
        "# TYPE kube_node_spec_taint gauge",
    ]
    if disk_pressure:
        lines.append(
            f'kube_node_spec_taint{{node="{NODE}",key="node.kubernetes.io/disk-pressure",'
            f'value="",effect="NoSchedule"}} 1'
        )
    return "\n".join(lines) + "\n"


def fast_rule_copies(directory: Path) -> list[Path]:
    """alert_rules/*.yaml with every alert's ``for:`` set to 0s."""
    directory.mkdir()
    copies = []
    for path in rule_files():
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in doc["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    rule["for"] = "0s"
        copy = directory / path.name
        copy.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        copies.append(copy)
    return copies


# Grafana's variables and built-in intervals, as Grafana substitutes them with
# "All" selected (allValue ".*") over a short time range.
SUBSTITUTIONS = {
    "$environment": ".*",
    "$incident_type": ".*",
    "$__rate_interval": "1m",
    "$__range": "5m",
    "$__interval": "15s",
}


def grafana_substitute(expr: str) -> str:
    for variable, value in SUBSTITUTIONS.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr.replace("$1", ""), f"unsubstituted variable in {expr}"
    return expr


def dashboard_targets() -> list[tuple[str, str, str]]:
    """(panel title, refId, PromQL) of every panel target."""
    model = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [
        (panel["title"], target["refId"], grafana_substitute(target["expr"]))
        for panel in model["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]


def dashboard_variables() -> list[tuple[str, str, str]]:
    """(variable, label, series selector) of every label_values() variable."""
    model = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    found = []
    for variable in model["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = re.fullmatch(r"label_values\((.*), (\w+)\)", variable["query"]["query"])
        assert match, variable["query"]["query"]
        found.append((variable["name"], match[2], grafana_substitute(match[1])))
    return found


KEY_PANELS = {
    "Open incidents",
    "Open incidents by type and severity",
    "Webhook latency",
    "Queue depth",
}


def answers_with_numbers(prometheus: Prometheus, expr: str) -> bool:
    return has_numbers(prometheus.query(expr))


def has_numbers(answer: dict[str, Any]) -> bool:
    if answer.get("status") != "success":
        return False
    for sample in answer["data"]["result"]:
        value = sample["value"][1] if "value" in sample else None
        if value is not None and not math.isnan(float(value)):
            return True
    return False


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[Prometheus, Alertmanager, Responder, StaticExporter]]:
    token = secrets.token_urlsafe(24)
    (tmp_path / "alertmanager").mkdir()
    (tmp_path / "prometheus").mkdir()
    alertmanager = start_alertmanager(tmp_path / "alertmanager", free_port(), token)
    started: list[Any] = [alertmanager]
    try:
        responder = Responder(
            {
                "ROBOT_SRE_STORE_URL": f"sqlite:///{tmp_path}/state.db",
                "ROBOT_SRE_WEBHOOK_TOKEN": token,
                "ROBOT_SRE_ENVIRONMENT": "demo",
                "ROBOT_SRE_DRY_RUN": "true",
            },
            tmp_path,
            port=alertmanager.webhook_port,
        ).start()
        started.append(responder)
        exporter = StaticExporter(kube_state_metrics(disk_pressure=False)).start()
        started.append(exporter)
        prometheus = start_prometheus(
            tmp_path / "prometheus",
            {"kube-state-metrics": [exporter.target], "robot-sre": [f"127.0.0.1:{responder.port}"]},
            fast_rule_copies(tmp_path / "rules"),
            alertmanager=alertmanager.url.removeprefix("http://"),
        )
        started.append(prometheus)
        yield prometheus, alertmanager, responder, exporter
    finally:
        for part in reversed(started):
            part.stop()


def test_disk_pressure_becomes_an_incident_and_every_dashboard_query_answers(
    stack: tuple[Prometheus, Alertmanager, Responder, StaticExporter],
) -> None:
    prometheus, alertmanager, responder, exporter = stack

    def logs() -> str:
        return (
            f"--- responder ---\n{responder.log_tail()}\n"
            f"--- alertmanager ---\n{alertmanager.log_tail(2000)}\n"
            f"--- prometheus ---\n{prometheus.log_tail(2000)}"
        )

    # Both targets scraped while the node is healthy, so that the responder's
    # counters have a sample from before the alert (rate() needs two).
    eventually(
        lambda: prometheus.targets_up() == {"kube-state-metrics": True, "robot-sre": True},
        WAIT,
        "Prometheus scraping the exporter and the responder",
        logs,
    )
    assert prometheus.alerts() == [], "alerts fire on a healthy node"

    exporter.text = kube_state_metrics(disk_pressure=True)

    with httpx.Client(base_url=responder.url, timeout=5) as client:

        def disk_pressure_incident() -> dict[str, Any] | None:
            for incident in list_incidents(client):
                if incident["incident_type"] == "node_disk_pressure":
                    return incident
            return None

        incident = eventually(disk_pressure_incident, WAIT, "the node_disk_pressure incident", logs)
    assert incident["resource_scope"] == {"kind": "node", "namespace": None, "name": NODE}

    firing = {a["labels"]["alertname"]: a for a in prometheus.alerts() if a["state"] == "firing"}
    assert {"NodeDiskPressure", "NodeDiskPressureTaint"} <= set(firing), firing
    assert firing["NodeDiskPressure"]["labels"]["taxonomy_type"] == "node_disk_pressure"

    # The dashboard: the key panels return numbers once Prometheus has
    # scraped the responder after the incident opened ...
    targets = dashboard_targets()
    assert {title for title, _, _ in targets} >= KEY_PANELS
    for title, ref, expr in targets:
        if title in KEY_PANELS:

            def last_answer(expr: str = expr) -> str:
                return f"last answer: {prometheus.query(expr)}\n{logs()}"

            eventually(
                partial(answers_with_numbers, prometheus, expr),
                WAIT,
                f"data for panel {title!r} ({ref}): {expr}",
                last_answer,
            )
    # ... and every query of every panel parses and evaluates.
    failures = []
    for title, ref, expr in targets:
        answer = prometheus.query(expr)
        if answer.get("status") != "success":
            failures.append(f"{title} ({ref}): {expr}: {answer.get('error')}")
    assert not failures, "\n".join(failures)

    open_by_type = prometheus.query(
        'sum by (incident_type) (ops_incidents_open_total{environment=~".*"})'
    )["data"]["result"]
    assert {s["metric"]["incident_type"] for s in open_by_type} == {"node_disk_pressure"}

    # The variables' label_values() queries find the incident's labels.
    for name, label, selector in dashboard_variables():
        answer = prometheus.series_labels(label, selector)
        assert answer["status"] == "success", (name, answer)
        expected = {"environment": "demo", "incident_type": "node_disk_pressure"}[name]
        assert expected in answer["data"], (name, answer)
