"""Generate the Robot SRE Grafana dashboard (dashboards/robot-sre.json).

    python dashboards/generate.py          # write robot-sre.json
    python dashboards/generate.py --check  # exit 1 if robot-sre.json is stale

The dashboard is plain data built by small helpers below, so that a review
reads the panel list (``PANELS``) rather than 1,500 lines of JSON. It uses
only the standard library: grafana-foundation-sdk was considered, but its
PyPI versions carry epochs that make ``pip install grafana-foundation-sdk``
pick the Grafana 10.1 schema over the 11.x ones, and the JSON needed here is
small enough to write directly. Edit this file, run it, commit both.

Every ``ops_*`` metric of responder/metrics.py has a panel
(tests/ecosystem/test_dashboard.py checks this and that the committed JSON is
what this script writes; tests/ecosystem/test_full_stack.py runs every query
against a real Prometheus).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).with_name("robot-sre.json")

# Grafana's final schema version of the v1 dashboard JSON (Grafana 12).
SCHEMA_VERSION = 42

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

# Series filters for the dashboard variables. Metrics without these labels
# (webhook, queue, chat delivery) are not filtered.
BY_ENV = 'environment=~"$environment"'
BY_ENV_TYPE = 'environment=~"$environment", incident_type=~"$incident_type"'

# Metrics that carry the environment / incident_type labels, for the
# variables' label_values() queries.
LABELLED_METRICS = (
    "ops_incidents_open_total|ops_incidents_by_type|ops_incidents_resolved_total"
    "|ops_notifications_total|ops_policy_suppressions_total|ops_approvals_requested_total"
    "|ops_auto_remediations_total"
)


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    kind: str  # "stat", "timeseries" or "bargauge"
    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str = "short"
    width: int = 8
    height: int = 8
    key: bool = False
    """A key panel: the full-stack test demands that it returns data."""
    thresholds: tuple[tuple[str, float | None], ...] = (("green", None),)


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...] = field(default_factory=tuple)


def q(expr: str, legend: str = "") -> Query:
    return Query(expr, legend)


PER_HOUR = "suffix:/h"  # Grafana custom unit: value followed by /h

ROWS: tuple[Row, ...] = (
    Row(
        "Incidents",
        (
            Panel(
                "stat",
                "Open incidents",
                "Incidents not yet resolved (ops_incidents_open_total).",
                (q(f"sum(ops_incidents_open_total{{{BY_ENV_TYPE}}})"),),
                width=6,
                height=5,
                key=True,
                thresholds=(("green", None), ("orange", 1), ("red", 5)),
            ),
            Panel(
                "stat",
                "Critical open incidents",
                "Open incidents whose severity is critical.",
                (
                    q(
                        f'sum(ops_incidents_open_total{{{BY_ENV_TYPE}, severity="critical"}})'
                        " or vector(0)"
                    ),
                ),
                width=6,
                height=5,
                thresholds=(("green", None), ("red", 1)),
            ),
            Panel(
                "stat",
                "Resolved in range",
                "Incidents resolved in the dashboard's time range (ops_incidents_resolved_total).",
                (q(f"sum(increase(ops_incidents_resolved_total{{{BY_ENV_TYPE}}}[$__range]))"),),
                width=6,
                height=5,
            ),
            Panel(
                "stat",
                "Auto-remediation failure ratio",
                "Failed / run automatic remediations over the time range.",
                (
                    q(
                        f"sum(increase(ops_auto_remediations_failed_total{{{BY_ENV_TYPE}}}[$__range]))"
                        f" / sum(increase(ops_auto_remediations_total{{{BY_ENV_TYPE}}}[$__range]))"
                    ),
                ),
                unit="percentunit",
                width=6,
                height=5,
                thresholds=(("green", None), ("orange", 0.1), ("red", 0.25)),
            ),
            Panel(
                "timeseries",
                "Open incidents by type and severity",
                "ops_incidents_open_total per incident type and severity.",
                (
                    q(
                        "sum by (incident_type, severity) "
                        f"(ops_incidents_open_total{{{BY_ENV_TYPE}}})",
                        "{{incident_type}} ({{severity}})",
                    ),
                ),
                width=12,
                key=True,
            ),
            Panel(
                "bargauge",
                "Open incidents by domain",
                "ops_incidents_by_type summed per taxonomy domain.",
                (q(f"sum by (domain) (ops_incidents_by_type{{{BY_ENV_TYPE}}})", "{{domain}}"),),
                width=6,
            ),
            Panel(
                "timeseries",
                "Resolution rate",
                "Incidents resolved per hour, per incident type (ops_incidents_resolved_total).",
                (
                    q(
                        "sum by (incident_type) (rate(ops_incidents_resolved_total"
                        f"{{{BY_ENV_TYPE}}}[$__rate_interval])) * 3600",
                        "{{incident_type}}",
                    ),
                ),
                unit=PER_HOUR,
                width=6,
            ),
        ),
    ),
    Row(
        "Remediation and approvals",
        (
            Panel(
                "timeseries",
                "Automatic remediations",
                "Automatic remediation actions run per hour, per action "
                "(ops_auto_remediations_total).",
                (
                    q(
                        "sum by (action) (rate(ops_auto_remediations_total"
                        f"{{{BY_ENV_TYPE}}}[$__rate_interval])) * 3600",
                        "{{action}}",
                    ),
                ),
                unit=PER_HOUR,
            ),
            Panel(
                "timeseries",
                "Failed automatic remediations",
                "Automatic remediation actions that failed, per hour and action "
                "(ops_auto_remediations_failed_total).",
                (
                    q(
                        "sum by (action) (rate(ops_auto_remediations_failed_total"
                        f"{{{BY_ENV_TYPE}}}[$__rate_interval])) * 3600",
                        "{{action}}",
                    ),
                ),
                unit=PER_HOUR,
            ),
            Panel(
                "timeseries",
                "Approvals requested, granted, denied",
                "Approval requests sent and their answers, per hour "
                "(ops_approvals_requested_total, _granted_total, _denied_total).",
                (
                    q(
                        "sum(rate(ops_approvals_requested_total"
                        f"{{{BY_ENV_TYPE}}}[$__rate_interval])) * 3600",
                        "requested",
                    ),
                    q(
                        "sum(rate(ops_approvals_granted_total"
                        f"{{{BY_ENV_TYPE}}}[$__rate_interval])) * 3600",
                        "granted",
                    ),
                    q(
                        "sum(rate(ops_approvals_denied_total"
                        f"{{{BY_ENV_TYPE}}}[$__rate_interval])) * 3600",
                        "denied",
                    ),
                ),
                unit=PER_HOUR,
            ),
        ),
    ),
    Row(
        "Policy and channels",
        (
            Panel(
                "timeseries",
                "Policy suppressions by reason",
                "Notifications or actions suppressed by dedupe windows, cooldowns or policy, "
                "per hour (ops_policy_suppressions_total).",
                (
                    q(
                        "sum by (reason) (rate(ops_policy_suppressions_total"
                        f"{{{BY_ENV_TYPE}}}[$__rate_interval])) * 3600",
                        "{{reason}}",
                    ),
                ),
                unit=PER_HOUR,
            ),
            Panel(
                "timeseries",
                "Notifications by channel",
                "Operator notifications sent per hour (ops_notifications_total).",
                (
                    q(
                        "sum by (channel) (rate(ops_notifications_total"
                        f"{{{BY_ENV_TYPE}}}[$__rate_interval])) * 3600",
                        "{{channel}}",
                    ),
                ),
                unit=PER_HOUR,
            ),
            Panel(
                "timeseries",
                "Chat delivery failures",
                "Failed deliveries to operator channels per hour "
                "(ops_chat_delivery_failures_total).",
                (
                    q(
                        "sum by (channel) "
                        "(rate(ops_chat_delivery_failures_total[$__rate_interval])) * 3600",
                        "{{channel}}",
                    ),
                ),
                unit=PER_HOUR,
                thresholds=(("green", None), ("red", 1)),
            ),
            Panel(
                "timeseries",
                "Chat messages by kind",
                "Messages posted to chat channels per hour, by channel and kind "
                "(ops_chat_messages_total).",
                (
                    q(
                        "sum by (channel, kind) "
                        "(rate(ops_chat_messages_total[$__rate_interval])) * 3600",
                        "{{channel}} {{kind}}",
                    ),
                ),
                unit=PER_HOUR,
            ),
            Panel(
                "timeseries",
                "Chat retries and digests",
                "Deliveries retried after a retryable failure "
                "(ops_chat_delivery_retries_total) and messages held back by storm "
                "control into a digest (ops_chat_digested_total), per hour.",
                (
                    q(
                        "sum by (channel) "
                        "(rate(ops_chat_delivery_retries_total[$__rate_interval])) * 3600",
                        "retries {{channel}}",
                    ),
                    q(
                        "sum by (channel) (rate(ops_chat_digested_total[$__rate_interval])) * 3600",
                        "digested {{channel}}",
                    ),
                ),
                unit=PER_HOUR,
            ),
            Panel(
                "timeseries",
                "Approval answers by surface",
                "Answers to approval requests per hour, by surface (Slack, Telegram, API) "
                "and result (ops_approval_answers_total).",
                (
                    q(
                        "sum by (via, result) "
                        "(rate(ops_approval_answers_total[$__rate_interval])) * 3600",
                        "{{via}} {{result}}",
                    ),
                ),
                unit=PER_HOUR,
            ),
        ),
    ),
    Row(
        "Webhook and queue",
        (
            Panel(
                "timeseries",
                "Webhook latency",
                "Time to validate and durably queue an Alertmanager webhook "
                "(ops_webhook_duration_seconds).",
                tuple(
                    q(
                        f"histogram_quantile({quantile}, sum by (le) "
                        "(rate(ops_webhook_duration_seconds_bucket[$__rate_interval])))",
                        f"p{round(quantile * 100)}",
                    )
                    for quantile in (0.5, 0.95, 0.99)
                ),
                unit="s",
                key=True,
            ),
            Panel(
                "timeseries",
                "Queue depth",
                "Accepted webhook payloads not yet processed (ops_queue_depth; every "
                "replica reports the shared queue).",
                (q("max(ops_queue_depth)", "queued"),),
                key=True,
                thresholds=(("green", None), ("orange", 100)),
            ),
            Panel(
                "timeseries",
                "Alerts received by status",
                "Alerts accepted by the webhook per second, firing or resolved "
                "(ops_webhook_alerts_received_total).",
                (
                    q(
                        "sum by (status) "
                        "(rate(ops_webhook_alerts_received_total[$__rate_interval]))",
                        "{{status}}",
                    ),
                ),
                unit="reqps",
            ),
            Panel(
                "timeseries",
                "Webhook rejections by code",
                "Webhook requests refused per second, by HTTP status "
                "(ops_webhook_rejections_total).",
                (
                    q(
                        "sum by (code) (rate(ops_webhook_rejections_total[$__rate_interval]))",
                        "{{code}}",
                    ),
                ),
                unit="reqps",
                width=12,
            ),
            Panel(
                "timeseries",
                "Alerts processed by outcome",
                "Alerts the worker processed per second, by outcome (ops_alerts_processed_total).",
                (
                    q(
                        "sum by (outcome) (rate(ops_alerts_processed_total[$__rate_interval]))",
                        "{{outcome}}",
                    ),
                ),
                unit="reqps",
                width=12,
            ),
        ),
    ),
    Row(
        "Gradual automation",
        (
            Panel(
                "timeseries",
                "Shadow decisions (would have)",
                "Decisions recorded but not executed under the shadow automation mode, per "
                "hour, by action and the decision the robot would have acted on "
                "(ops_shadow_decisions_total).",
                (
                    q(
                        "sum by (action, decision) (rate(ops_shadow_decisions_total"
                        f"{{{BY_ENV_TYPE}}}[$__rate_interval])) * 3600",
                        "{{action}} ({{decision}})",
                    ),
                ),
                unit=PER_HOUR,
                width=12,
            ),
            Panel(
                "bargauge",
                "False positives marked",
                "Verdicts of false positive people marked on incidents in the time range, by "
                "incident type and kind: classification (the type was wrong) or action (the "
                "recommended action was); the evidence against promoting a class "
                "(ops_false_positives_total, GET /api/v1/automation/readiness).",
                (
                    q(
                        "sum by (incident_type, kind) (increase(ops_false_positives_total"
                        f"{{{BY_ENV_TYPE}}}[$__range]))",
                        "{{incident_type}} ({{kind}})",
                    ),
                ),
                width=12,
            ),
            Panel(
                "timeseries",
                "Guard refusals",
                "Actions the runner refused at run time per hour, by guard (action_cap: a cap "
                "on pods deleted or workloads scaled per window) (ops_guard_refusals_total).",
                (
                    q(
                        "sum by (guard, incident_type) (rate(ops_guard_refusals_total"
                        f"{{{BY_ENV_TYPE}}}[$__rate_interval])) * 3600",
                        "{{guard}} ({{incident_type}})",
                    ),
                ),
                unit=PER_HOUR,
                width=24,
            ),
        ),
    ),
)


def _target(query: Query, ref: str) -> dict[str, Any]:
    return {
        "datasource": DATASOURCE,
        "editorMode": "code",
        "expr": query.expr,
        "legendFormat": query.legend or "__auto",
        "range": True,
        "refId": ref,
    }


def _field_config(panel: Panel) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "color": {"mode": "palette-classic" if panel.kind == "timeseries" else "thresholds"},
        "mappings": [],
        "thresholds": {
            "mode": "absolute",
            "steps": [{"color": color, "value": value} for color, value in panel.thresholds],
        },
        "unit": panel.unit,
    }
    if panel.kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line",
            "fillOpacity": 10,
            "lineWidth": 1,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"group": "A", "mode": "none"},
        }
    return {"defaults": defaults, "overrides": []}


def _options(panel: Panel) -> dict[str, Any]:
    reduce = {"calcs": ["lastNotNull"], "fields": "", "values": False}
    if panel.kind == "stat":
        return {
            "colorMode": "value",
            "graphMode": "area",
            "justifyMode": "auto",
            "orientation": "auto",
            "reduceOptions": reduce,
            "showPercentChange": False,
            "textMode": "auto",
            "wideLayout": True,
        }
    if panel.kind == "bargauge":
        return {
            "displayMode": "gradient",
            "orientation": "horizontal",
            "reduceOptions": reduce,
            "showUnfilled": True,
        }
    return {
        "legend": {"calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }


def _layout(rows: tuple[Row, ...]) -> list[dict[str, Any]]:
    """Rows and panels with ids and grid positions, left to right, wrapping at 24."""
    panels: list[dict[str, Any]] = []
    next_id = 1
    y = 0
    for row in rows:
        panels.append(
            {
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "id": next_id,
                "panels": [],
                "title": row.title,
                "type": "row",
            }
        )
        next_id += 1
        y += 1
        x = 0
        line_height = 0
        for panel in row.panels:
            if x + panel.width > 24:
                x, y, line_height = 0, y + line_height, 0
            panels.append(
                {
                    "datasource": DATASOURCE,
                    "description": panel.description,
                    "fieldConfig": _field_config(panel),
                    "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
                    "id": next_id,
                    "options": _options(panel),
                    "targets": [
                        _target(query, chr(ord("A") + i)) for i, query in enumerate(panel.queries)
                    ],
                    "title": panel.title,
                    "type": panel.kind,
                }
            )
            next_id += 1
            x += panel.width
            line_height = max(line_height, panel.height)
        y += line_height
    return panels


def _query_variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "datasource": DATASOURCE,
        "definition": query,
        "includeAll": True,
        "label": label,
        "multi": True,
        "name": name,
        "options": [],
        "query": {
            "qryType": 1,
            "query": query,
            "refId": "PrometheusVariableQueryEditor-VariableQuery",
        },
        "refresh": 2,
        "regex": "",
        "sort": 1,
        "type": "query",
    }


def build_dashboard() -> dict[str, Any]:
    """The dashboard as Grafana's JSON model."""
    return {
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "description": "Robot SRE: incidents, remediations, approvals, channels and the "
        "webhook pipeline (ops_* metrics).",
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [],
        "panels": _layout(ROWS),
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "tags": ["robot-sre", "alertmanager", "incidents"],
        "templating": {
            "list": [
                {
                    "current": {},
                    "hide": 0,
                    "includeAll": False,
                    "label": "Data source",
                    "multi": False,
                    "name": "datasource",
                    "options": [],
                    "query": "prometheus",
                    "refresh": 1,
                    "regex": "",
                    "type": "datasource",
                },
                _query_variable(
                    "environment",
                    "Environment",
                    f'label_values({{__name__=~"{LABELLED_METRICS}"}}, environment)',
                ),
                _query_variable(
                    "incident_type",
                    "Incident type",
                    f'label_values({{__name__=~"{LABELLED_METRICS}", {BY_ENV}}}, incident_type)',
                ),
            ]
        },
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "title": "Robot SRE",
        "uid": "robot-sre",
        "version": 1,
    }


def render() -> str:
    return json.dumps(build_dashboard(), indent=2, ensure_ascii=False) + "\n"


def key_panel_titles() -> list[str]:
    return [panel.title for row in ROWS for panel in row.panels if panel.key]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the JSON is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text(encoding="utf-8") != text:
            print(f"{OUTPUT} is stale: run python dashboards/generate.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
