"""``POST /webhooks/alertmanager`` under bad input: every request that can
never succeed gets a 4xx naming the problem (Alertmanager does not retry 4xx),
a store that cannot take the payload gets 503 (Alertmanager retries), and
nothing a bad request does disturbs alerts already accepted."""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fixtures.backends import node_incident_lock
from fixtures.polling import (
    HttpAnswer,
    HttpClient,
    eventually,
    incidents_by_fingerprint,
    list_incidents,
)
from fixtures.processes import Responder, free_port
from starlette.testclient import TestClient

from responder.app import create_app
from responder.settings import Settings
from responder.store import held_lock

TOKEN = "whk-" + secrets.token_hex(16)
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
MAX_BODY = 4096
WAIT = 15.0
ROUTE = "/webhooks/alertmanager"
DISK_LABELS = {"alertname": "KubeNodePressure", "condition": "DiskPressure", "severity": "warning"}


def alert(fingerprint: str, **fields: Any) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": f"BadInputProbe{fingerprint}", "service": f"svc-{fingerprint}"},
        "fingerprint": fingerprint,
        **fields,
    }


def body(*alerts: dict[str, Any], **fields: Any) -> bytes:
    document = {"version": "4", "status": "firing", "receiver": "robot-sre", "alerts": list(alerts)}
    return json.dumps({**document, **fields}).encode()


def padded_to(size: int, fingerprint: str) -> bytes:
    """A valid payload of exactly ``size`` bytes (padding in an annotation)."""
    empty = body(alert(fingerprint, annotations={"padding": ""}))
    padded = body(alert(fingerprint, annotations={"padding": "x" * (size - len(empty))}))
    assert len(padded) == size
    return padded


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One in-process app (queue worker running) with a token and a small body limit."""
    db = tmp_path_factory.mktemp("bad-input") / "state.db"
    settings = Settings(store_url=f"sqlite:///{db}", webhook_token=TOKEN, max_body_bytes=MAX_BODY)
    with TestClient(create_app(settings)) as client:
        yield client


def post(client: HttpClient, content: bytes, headers: dict[str, str] = AUTH) -> HttpAnswer:
    return client.post(ROUTE, content=content, headers=headers)


def wait_for_incidents(client: HttpClient, fingerprints: set[str]) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        by_fingerprint = incidents_by_fingerprint(list_incidents(client))
        return by_fingerprint if fingerprints <= by_fingerprint.keys() else None

    return eventually(found, WAIT, f"incidents for {sorted(fingerprints)}")


# Requests that can never succeed, and the answer each must get.
BAD_REQUESTS: dict[str, tuple[bytes, dict[str, str], int, str | None]] = {
    "malformed_json": (b'{"version": "4", "alerts": [', AUTH, 400, None),
    "empty_body": (b"", AUTH, 400, None),
    "not_utf8": (b'{"version": "4", "alerts": ["\xff\xfe"]}', AUTH, 400, None),
    "json_array": (b'[{"version": "4", "alerts": []}]', AUTH, 400, None),
    "json_string": (b'"version 4"', AUTH, 400, None),
    "version_3": (body(alert("v3"), version="3"), AUTH, 422, "version"),
    "version_as_number": (body(alert("v4n"), version=4), AUTH, 422, "version"),
    "missing_alerts": (json.dumps({"version": "4"}).encode(), AUTH, 422, "alerts"),
    "alerts_not_a_list": (body(alerts="KubeNodePressure"), AUTH, 422, "alerts"),
    "alert_without_labels": (body({"status": "firing"}), AUTH, 422, "alerts.0.labels"),
    "alert_status_unknown": (body(alert("st", status="pending")), AUTH, 422, "alerts.0.status"),
    "too_large": (padded_to(MAX_BODY + 1, "big"), AUTH, 413, None),
    "no_token": (body(alert("nt")), {"Content-Type": "application/json"}, 401, None),
    "wrong_token": (body(alert("wt")), {"Authorization": "Bearer not-the-token"}, 401, None),
    "basic_scheme": (body(alert("bs")), {"Authorization": f"Basic {TOKEN}"}, 401, None),
}


def test_malformed_json_is_rejected_with_400_and_an_error(client: TestClient) -> None:
    answer = post(client, b'{"version": "4", "alerts": [')
    assert answer.status_code == 400
    assert "JSON" in answer.json()["error"]


def test_json_array_body_is_rejected_with_400(client: TestClient) -> None:
    answer = post(client, json.dumps([json.loads(body(alert("arr")))]).encode())
    assert answer.status_code == 400
    assert answer.json()["error"]


def test_version_3_is_rejected_with_422_naming_the_version_field(client: TestClient) -> None:
    answer = post(client, body(alert("v3"), version="3"))
    assert answer.status_code == 422
    assert answer.json()["field"] == "version"
    assert '"4"' in answer.json()["error"]


def test_missing_version_is_rejected_with_422_naming_the_version_field(
    client: TestClient,
) -> None:
    answer = post(client, json.dumps({"alerts": [alert("nov")]}).encode())
    assert answer.status_code == 422
    assert answer.json()["field"] == "version"


def test_missing_alerts_is_rejected_with_422_naming_the_alerts_field(client: TestClient) -> None:
    answer = post(client, json.dumps({"version": "4", "status": "firing"}).encode())
    assert answer.status_code == 422
    assert answer.json()["field"] == "alerts"
    assert "alerts" in answer.json()["error"]


def test_body_over_max_body_bytes_is_rejected_with_413(client: TestClient) -> None:
    answer = post(client, padded_to(MAX_BODY + 1, "over"))
    assert answer.status_code == 413
    assert "max_body_bytes" in answer.json()["error"]


def test_chunked_body_over_max_body_bytes_is_rejected_with_413(client: TestClient) -> None:
    """No Content-Length to trust: the limit holds while the body streams in."""
    content = padded_to(3 * MAX_BODY, "chunked")

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(content), 1000):
            yield content[start : start + 1000]

    answer = client.post(ROUTE, content=chunks(), headers=AUTH)
    assert answer.status_code == 413


def test_body_of_exactly_max_body_bytes_is_accepted(client: TestClient) -> None:
    answer = post(client, padded_to(MAX_BODY, "exact"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 1


def test_missing_bearer_token_is_rejected_with_401_and_www_authenticate(
    client: TestClient,
) -> None:
    answer = post(client, body(alert("nt")), headers={"Content-Type": "application/json"})
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert answer.json()["error"]


def test_wrong_bearer_token_is_rejected_with_401_and_www_authenticate(
    client: TestClient,
) -> None:
    answer = post(client, body(alert("wt")), headers={"Authorization": f"Bearer {TOKEN}x"})
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_unknown_extra_fields_are_accepted_and_processed(client: TestClient) -> None:
    """Newer Alertmanagers add fields; the payload is still version 4."""
    extended = alert(
        "extra",
        annotations={"summary": "probe"},
        generatorURL="http://prometheus.invalid/graph",
        silencedBy=[],
        inhibitedBy=[],
        somethingNew={"nested": True},
    )
    content = body(
        extended,
        notification_reason="alert_group_updated",
        routeLabels={"team": "platform"},
        groupLabels={"alertname": "BadInputProbeextra"},
        futureTopLevel=[1, 2, 3],
    )
    answer = post(client, content)
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 1
    (incident,) = wait_for_incidents(client, {"extra"})["extra"]
    assert incident["alerts"]["extra"]["labels"] == extended["labels"]


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_request_gets_its_4xx_and_leaves_accepted_alerts_to_be_processed(
    client: TestClient, case: str
) -> None:
    content, headers, status, field = BAD_REQUESTS[case]
    accepted = post(client, body(alert(f"before-{case}")))
    assert accepted.status_code == 200, accepted.text

    answer = post(client, content, headers)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]
    if field is not None:
        assert answer.json()["field"] == field

    after = post(client, body(alert(f"after-{case}")))
    assert after.status_code == 200, after.text
    wait_for_incidents(client, {f"before-{case}", f"after-{case}"})
    assert client.get("/healthz").status_code == 200


def test_webhook_token_never_appears_in_the_responder_log(tmp_path: Path) -> None:
    responder = Responder(
        {
            "ROBOT_SRE_STORE_URL": f"sqlite:///{tmp_path}/state.db",
            "ROBOT_SRE_WEBHOOK_TOKEN": TOKEN,
            "ROBOT_SRE_MAX_BODY_BYTES": str(MAX_BODY),
            "ROBOT_SRE_LOG_LEVEL": "debug",
        },
        tmp_path,
    ).start()
    try:
        with httpx.Client(base_url=responder.url, timeout=5) as client:
            for case, (content, headers, _, _) in sorted(BAD_REQUESTS.items()):
                post(client, content, headers)
                assert post(client, body(alert(f"log-{case}"))).status_code == 200
            wait_for_incidents(client, {f"log-{case}" for case in BAD_REQUESTS})
    finally:
        responder.stop()
    log = responder.log.read_text(errors="replace")
    assert "webhook rejected with 401" in log, log[-2000:]
    assert TOKEN not in log
    assert TOKEN.removeprefix("whk-") not in log


@contextlib.contextmanager
def on_unreachable_redis(
    tmp_path: Path, credentials: str = ""
) -> Iterator[tuple[Responder, httpx.Client]]:
    """A responder process whose Redis store nothing listens for, and a client."""
    store_url = f"redis://{credentials}127.0.0.1:{free_port()}/0"
    responder = Responder(
        {"ROBOT_SRE_STORE_URL": store_url, "ROBOT_SRE_STORE_NAMESPACE": "unreachable"}, tmp_path
    ).start(ready_path="/healthz")
    try:
        with httpx.Client(base_url=responder.url, timeout=10) as client:
            yield responder, client
    finally:
        responder.stop()


def test_unreachable_store_answers_503_on_readyz_and_webhook_never_200(tmp_path: Path) -> None:
    with on_unreachable_redis(tmp_path) as (_, client):
        ready = client.get("/readyz")
        assert ready.status_code == 503, ready.text
        assert ready.json()["status"] == "unavailable"
        for n in range(3):
            answer = client.post(
                ROUTE,
                content=body(alert(f"down-{n}")),
                headers={"Content-Type": "application/json"},
            )
            assert answer.status_code == 503, answer.text
            assert answer.headers.get("Retry-After")
            assert answer.json()["error"]
        assert client.get("/healthz").status_code == 200


def test_full_queue_answers_503_with_retry_after_until_the_worker_catches_up(
    tmp_path: Path,
) -> None:
    settings = Settings(store_url=f"sqlite:///{tmp_path}/state.db", queue_max_depth=2)
    app = create_app(settings)
    store = app.state.runtime.store
    with TestClient(app) as client:
        # park the worker on its first alert, as a replica holding the incident would
        with contextlib.ExitStack() as parked:
            parked.enter_context(held_lock(store, node_incident_lock("full-1"), ttl_seconds=60))
            first = body({**alert("full-1"), "labels": {**DISK_LABELS, "node": "full-1"}})
            assert client.post(ROUTE, content=first).status_code == 200
            assert client.post(ROUTE, content=body(alert("full-2"))).status_code == 200
            refused = client.post(ROUTE, content=body(alert("full-3")))
            assert refused.status_code == 503, refused.text
            assert refused.headers["Retry-After"]
            assert "queue full" in refused.json()["error"]
        wait_for_incidents(client, {"full-1", "full-2"})
        eventually(
            lambda: client.post(ROUTE, content=body(alert("full-3"))).status_code == 200,
            WAIT,
            "the webhook to accept again once the queue drained",
        )
        wait_for_incidents(client, {"full-3"})


def test_store_password_never_appears_in_the_responder_log_or_answers(tmp_path: Path) -> None:
    password = "pw-" + secrets.token_hex(12)
    with on_unreachable_redis(tmp_path, f"robot:{password}@") as (responder, client):
        answers = [client.get("/readyz"), client.post(ROUTE, content=body(alert("pw")))]
        assert [a.status_code for a in answers] == [503, 503]
        assert all(password not in a.text for a in answers)
        eventually(
            lambda: "store unavailable" in responder.log_tail(),
            WAIT,
            "the worker to log that the store is unavailable",
            responder.log_tail,
        )
    log = responder.log.read_text(errors="replace")
    leaks = [line for line in log.splitlines() if password in line]
    assert leaks == [], "the Redis password is in the log:\n" + "\n".join(leaks)
