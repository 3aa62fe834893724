"""The Grafana dashboard (dashboards/): generated from dashboards/generate.py,
current schema, the variables, and a panel for every ops_* metric."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from types import ModuleType
from typing import Any

from fixtures.ecosystem import DASHBOARD, REPO
from prometheus_client.parser import text_string_to_metric_families

from responder.metrics import Metrics


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "dashboard_generate", REPO / "dashboards" / "generate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def panels() -> list[dict[str, Any]]:
    return [panel for panel in dashboard()["panels"] if panel["type"] != "row"]


def exprs() -> list[str]:
    return [target["expr"] for panel in panels() for target in panel["targets"]]


class _NoIncidents:
    def count_open_incidents(self) -> dict[tuple[str, str, str], int]:
        return {}


def ops_metric_names() -> set[str]:
    """Every metric family the responder exports (responder/metrics.py)."""
    metrics = Metrics(lambda: _NoIncidents(), lambda _type: "infrastructure")  # type: ignore[arg-type, return-value]
    text = metrics.render().decode()
    names = set()
    for family in text_string_to_metric_families(text):
        if family.name.endswith("_created"):  # creation timestamps, not metrics of their own
            continue
        suffix = "_total" if family.type == "counter" else ""
        names.add(family.name + suffix)
    return names


def test_committed_json_is_what_the_generator_writes() -> None:
    assert generator().render() == DASHBOARD.read_text(encoding="utf-8"), (
        "dashboards/robot-sre.json is stale: run python dashboards/generate.py"
    )


def test_dashboard_uses_the_current_schema_and_a_stable_uid() -> None:
    model = dashboard()
    assert model["schemaVersion"] == 42
    assert model["uid"] == "robot-sre"
    assert model["id"] is None


def test_datasource_environment_and_incident_type_variables() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("environment", "incident_type"):
        variable = variables[name]
        assert variable["type"] == "query"
        assert variable["includeAll"] and variable["multi"]
        assert variable["allValue"] == ".*"
        assert variable["datasource"]["uid"] == "${datasource}"
        assert f", {name})" in variable["query"]["query"]


def test_every_panel_queries_the_datasource_variable() -> None:
    for panel in panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_every_ops_metric_has_a_panel() -> None:
    names = ops_metric_names()
    assert "ops_incidents_open_total" in names and "ops_webhook_duration_seconds" in names
    queried = " ".join(exprs())
    missing = sorted(name for name in names if not re.search(rf"\b{name}(_bucket)?\b", queried))
    assert not missing, f"ops_* metrics without a panel: {missing}"


def test_labelled_metrics_are_filtered_by_the_variables() -> None:
    for expr in exprs():
        for metric in (
            "ops_incidents_open_total",
            "ops_incidents_resolved_total",
            "ops_auto_remediations_total",
        ):
            if re.search(rf"\b{metric}\{{", expr):
                assert 'environment=~"$environment"' in expr, expr
                assert 'incident_type=~"$incident_type"' in expr, expr


def test_panels_do_not_overlap() -> None:
    cells: set[tuple[int, int]] = set()
    for panel in dashboard()["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps at {(x, y)}"
                cells.add((x, y))


def test_key_panels_are_the_ones_the_full_stack_test_demands_data_from() -> None:
    assert set(generator().key_panel_titles()) == {
        "Open incidents",
        "Open incidents by type and severity",
        "Webhook latency",
        "Queue depth",
    }
