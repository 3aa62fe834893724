"""``POST /api/v1/policy/explain``: the decision and all five layers for a
hypothetical incident and action; refusals name the field; the answer is
the one ``robot-sre explain --json`` gives over the same store, operator
rules included."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures.explain import explain_request
from starlette.testclient import TestClient

from responder import cli
from responder.app import create_app
from responder.settings import Settings

LAYERS = ["taxonomy", "defaults", "environment", "operator", "hard_constraints"]
DISK = explain_request(severity="warning", target="cronjob/x/trivy-db-warmup")


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/s.db"


@pytest.fixture
def client(store_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(store_url=store_url))) as client:
        yield client


def _explain(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/v1/policy/explain", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _layer(answer: dict[str, Any], name: str) -> dict[str, Any]:
    layers: list[dict[str, Any]] = answer["layers"]
    [layer] = [entry for entry in layers if entry["layer"] == name]
    return layer


def _cli(
    body: dict[str, Any],
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> dict[str, Any]:
    monkeypatch.setenv("ROBOT_SRE_STORE_URL", store_url)
    monkeypatch.delenv("ROBOT_SRE_CONFIG", raising=False)
    argv = ["explain", "--json"]
    for key in ("incident_type", "environment", "severity", "confidence", "action", "target"):
        if key in body:
            argv += [f"--{key.replace('_', '-')}", str(body[key])]
    for key, value in body.get("labels", {}).items():
        argv += ["--label", f"{key}={value}"]
    for key, value in body.get("facts", {}).items():
        argv += ["--fact", f"{key}={str(value).lower()}"]
    capsys.readouterr()
    assert cli.main(argv) == 0
    answer: dict[str, Any] = json.loads(capsys.readouterr().out)
    return answer


# the answer


def test_the_answer_has_the_decision_and_five_layers_in_order(client: TestClient) -> None:
    answer = _explain(client, DISK)
    assert answer["decision"] == "auto"
    assert answer["action"] == "suspend_cronjob"
    assert answer["action_class"] == "contain"
    assert answer["reason"]
    assert answer["target"] == {"kind": "cronjob", "namespace": "x", "name": "trivy-db-warmup"}
    assert [layer["layer"] for layer in answer["layers"]] == LAYERS
    for layer in answer["layers"]:
        assert set(layer) == {"layer", "decision", "reason"}
        assert layer["decision"] in (None, "auto", "approval", "off", "human_only")
        assert layer["reason"]


@pytest.mark.parametrize(
    ("overrides", "decision", "action_class"),
    [
        ({"action": "reboot_worker", "target": "node/10.0.10.201"}, "approval", "disruptive"),
        (
            {"action": "delete_pvc", "target": "persistentvolumeclaim/data/pg"},
            "human_only",
            "human_only",
        ),
        ({"confidence": "medium"}, "approval", "contain"),
        ({"environment": "production"}, "approval", "contain"),
        ({"target": "cronjob/platform/report"}, "approval", "contain"),
        ({"incident_type": "unclassified"}, "off", "contain"),
        (
            {"incident_type": "unclassified", "action": "notify_operator", "target": None},
            "auto",
            "notify",
        ),
        ({"action": "collect_evidence", "target": None}, "auto", "observe"),
    ],
)
def test_decisions_for_a_few_inputs(
    client: TestClient, overrides: dict[str, Any], decision: str, action_class: str
) -> None:
    answer = _explain(client, {**DISK, **overrides})
    assert (answer["policy_decision"], answer["action_class"]) == (decision, action_class)
    assert [layer["layer"] for layer in answer["layers"]] == LAYERS


def test_target_as_an_object_and_optional_fields(client: TestClient) -> None:
    body = {
        **DISK,
        "target": {"kind": "cronjob", "namespace": "x", "name": "trivy-db-warmup"},
        "labels": {"namespace": "x"},
        "facts": {"nodes_affected": 2, "customer_facing_failures": True},
    }
    assert _explain(client, body) == _explain(client, DISK)
    minimal = {k: v for k, v in DISK.items() if k not in ("severity", "target")}
    assert _explain(client, minimal)["target"] is None


# refusals name the field


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"environment": "prod"}, "environment"),
        ({"confidence": "certain"}, "confidence"),
        ({"severity": "sev1"}, "severity"),
        ({"action": "format_disk"}, "action"),
        ({"incident_type": "node_on_fire"}, "incident_type"),
        ({"blast_radius": "small"}, "blast_radius"),
        ({"facts": {"moon_phase": 3}}, "facts"),
        ({"target": "cronjob"}, "target"),
    ],
)
def test_a_bad_field_is_refused_by_name(
    client: TestClient, overrides: dict[str, Any], field: str
) -> None:
    response = client.post("/api/v1/policy/explain", json={**DISK, **overrides})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["field"] == field
    assert body["error"]


def test_an_unknown_field_is_named_in_the_message(client: TestClient) -> None:
    response = client.post("/api/v1/policy/explain", json={**DISK, "blast_radius": "small"})
    assert "unknown field" in response.json()["error"]
    assert "blast_radius" in response.json()["error"]


@pytest.mark.parametrize("missing", ["incident_type", "environment", "confidence", "action"])
def test_a_missing_field_is_refused_by_name(client: TestClient, missing: str) -> None:
    body = {k: v for k, v in DISK.items() if k != missing}
    response = client.post("/api/v1/policy/explain", json=body)
    assert response.status_code == 400
    assert response.json()["field"] == missing


@pytest.mark.parametrize("content", [b"{not json", b"", b'{"incident_type": '])
def test_malformed_json_is_refused(client: TestClient, content: bytes) -> None:
    response = client.post(
        "/api/v1/policy/explain", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    body = response.json()
    assert "malformed JSON" in body["error"]
    assert "field" in body


def test_a_body_that_is_not_an_object_is_refused(client: TestClient) -> None:
    response = client.post("/api/v1/policy/explain", json=[DISK])
    assert response.status_code == 400
    assert "field" in response.json()


# the same answer as the command line


CLI_CASES = [
    DISK,
    {**DISK, "environment": "production"},
    {**DISK, "confidence": "low"},
    {**DISK, "action": "reboot_worker", "target": "node/10.0.10.201"},
    {**DISK, "action": "delete_pvc", "target": "persistentvolumeclaim/data/pg"},
    {
        **DISK,
        "target": "deployment/ingress-nginx/ingress-nginx-controller",
        "action": "scale_to_zero",
    },
    {
        "incident_type": "runtime_dependency_outage",
        "environment": "staging",
        "confidence": "high",
        "action": "rollout_restart",
        "target": "deployment/data/redis",
        "facts": {"shared_dependency": False, "core_workload": True},
        "labels": {"namespace": "data"},
    },
    {
        "incident_type": "unclassified",
        "environment": "demo",
        "confidence": "high",
        "action": "notify_operator",
    },
]


@pytest.mark.parametrize("body", CLI_CASES, ids=[f"case{i}" for i in range(len(CLI_CASES))])
def test_the_api_answers_what_the_cli_answers(
    client: TestClient,
    store_url: str,
    body: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _explain(client, body) == _cli(body, store_url, monkeypatch, capsys)


def test_an_operator_rule_from_the_api_shows_in_the_trace(
    client: TestClient,
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    production = {**DISK, "environment": "production"}
    before = _explain(client, production)
    assert _layer(before, "operator")["decision"] is None

    rule = {
        "id": "no-cronjob-suspension-in-production",
        "name": "never suspend CronJobs in production",
        "domain": "infrastructure",
        "incident_type": "node_disk_pressure",
        "environment_scope": ["production"],
        "allowed_action_profile": {"suspend_cronjob": "off"},
        "owner": "alice",
    }
    created = client.post("/api/v1/rules", json=rule)
    assert created.status_code == 201, created.text

    after = _explain(client, production)
    operator = _layer(after, "operator")
    assert operator["decision"] == "off"
    assert rule["id"] in operator["reason"]
    assert after["decision"] == "off"
    # scoped to production: demo is untouched
    assert _layer(_explain(client, DISK), "operator")["decision"] is None
    assert _explain(client, DISK)["decision"] == "auto"
    # and the command line reads the same rule from the same store
    assert _cli(production, store_url, monkeypatch, capsys) == after


def test_a_rule_cannot_loosen_the_trace_past_the_hard_constraints(client: TestClient) -> None:
    rule = {
        "id": "eager",
        "name": "eager containment",
        "domain": "infrastructure",
        "incident_type": "node_disk_pressure",
        "allowed_action_profile": {"scale_to_zero": "auto"},
        "owner": "alice",
    }
    assert client.post("/api/v1/rules", json=rule).status_code == 201
    answer = _explain(
        client,
        {
            **DISK,
            "action": "scale_to_zero",
            "target": "deployment/ingress-nginx/ingress-nginx-controller",
        },
    )
    assert _layer(answer, "operator")["decision"] == "auto"
    assert _layer(answer, "hard_constraints")["decision"] == "approval"
    assert answer["decision"] == "approval"
    assert "ingress controller" in answer["reason"]
