"""The webhook parser under fuzzing: any bytes at all, and payloads that are
almost right, are either accepted or refused with a 4xx naming the problem,
never anything else; a payload the parser accepts goes through the pipeline
without error (an accepted alert is never dropped later); fields a newer
Alertmanager adds are accepted.

``make test`` runs a short fuzz (``FUZZ_PARSER_EXAMPLES``, default 300 per
property); ``make fuzz`` the long one (100,000 for each parser property; the
pipeline property, far slower, at most 2,000).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from responder.app import create_app
from responder.ingest.payload import PayloadError, parse_payload
from responder.settings import Settings

EXAMPLES = int(os.environ.get("FUZZ_PARSER_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=40),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
label_maps = st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=60), max_size=6)
times = st.one_of(
    st.none(),
    st.just("2026-12-06T10:00:00Z"),
    st.just("0001-01-01T00:00:00Z"),
    st.text(max_size=30),
    st.integers(),
)


@st.composite
def alerts(draw: st.DrawFn) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "status": draw(st.sampled_from(["firing", "resolved", "pending", "", "FIRING"])),
        "labels": draw(st.one_of(label_maps, json_values)),
        "annotations": draw(st.one_of(label_maps, json_values)),
        "startsAt": draw(times),
        "endsAt": draw(times),
        "fingerprint": draw(st.one_of(st.text(max_size=20), st.integers())),
    }
    for key in draw(st.lists(st.sampled_from(sorted(alert)), max_size=2)):
        alert.pop(key, None)  # a field missing
    alert.update(draw(st.dictionaries(st.text(max_size=12), json_values, max_size=2)))
    return alert


@st.composite
def payloads(draw: st.DrawFn) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "version": draw(st.sampled_from(["4", "3", "5", 4, None, ""])),
        "status": draw(st.sampled_from(["firing", "resolved", "unknown"])),
        "receiver": draw(st.text(max_size=20)),
        "groupLabels": draw(label_maps),
        "commonLabels": draw(label_maps),
        "commonAnnotations": draw(label_maps),
        "externalURL": draw(st.text(max_size=30)),
        "groupKey": draw(st.text(max_size=30)),
        "truncatedAlerts": draw(st.one_of(st.integers(), st.text(max_size=5))),
        "alerts": draw(st.one_of(st.lists(alerts(), max_size=5), json_values)),
    }
    # what newer Alertmanagers add, and anything else
    payload.update(draw(st.dictionaries(st.text(max_size=20), json_values, max_size=3)))
    return payload


def outcome(body: bytes) -> int:
    """200 for accepted, else the refusal's status; any other exception fails."""
    try:
        parse_payload(body)
    except PayloadError as exc:
        assert exc.status in (400, 422), exc.status
        assert exc.error
        return exc.status
    return 200


@FUZZ
@given(st.binary(max_size=2_000))
def test_any_bytes_are_accepted_or_refused_with_a_4xx(body: bytes) -> None:
    outcome(body)


@FUZZ
@given(payloads())
def test_almost_right_payloads_are_accepted_or_refused_with_a_4xx(payload: dict[str, Any]) -> None:
    outcome(json.dumps(payload).encode())


@FUZZ
@given(
    payloads().filter(lambda p: p.get("version") == "4" and isinstance(p.get("alerts"), list)),
    st.integers(min_value=1, max_value=5),
)
def test_cut_off_json_is_refused_with_400(payload: dict[str, Any], cut: int) -> None:
    body = json.dumps(payload).encode()
    assert outcome(body[: max(0, len(body) - cut)]) == 400


@settings(
    max_examples=min(2_000, max(50, EXAMPLES // 6)),
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(payloads(), st.sampled_from(["4"]))
def test_what_the_webhook_accepts_the_pipeline_processes(
    site: TestClient, payload: dict[str, Any], version: str
) -> None:
    payload["version"] = version
    body = json.dumps(payload).encode()
    response = site.post("/webhooks/alertmanager", content=body)
    assert response.status_code in (200, 400, 413, 422), response.text
    if response.status_code == 200:
        # the same payload through the pipeline, synchronously: no exception
        site.app.state.runtime.pipeline.process(parse_payload(body))  # type: ignore[attr-defined]


def test_fields_a_newer_alertmanager_adds_are_accepted() -> None:
    body = {
        "version": "4",
        "status": "firing",
        "receiver": "robot-sre",
        "notification_reason": "new",
        "routeLabels": {"team": "sre"},
        "groupKey": "{}:{}",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop"},
                "someFutureField": {"nested": [1, 2]},
            }
        ],
    }
    assert outcome(json.dumps(body).encode()) == 200


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Any:
    db: Path = tmp_path_factory.mktemp("fuzz") / "s.db"
    # not started: no worker takes the queued payloads, the test processes them
    return TestClient(create_app(Settings(store_url=f"sqlite:///{db}")))
