"""Random sequences of MCP tool calls (in process, over the demo storm's
incidents, with the disk-pressure evidence moved between strong and weak
between calls) never make a human-only action run, a disruptive action run
without an approval, or an incident below high confidence get an automatic
action. The evidence comes from a collector standing in for the Kubernetes
one (the signals it reports for the disk-pressure story); without a cluster
the executors plan and record dry runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from fixtures.clock import Clock
from fixtures.executors import HttpExecutor, serve_state
from fixtures.http_stub import StubServer
from fixtures.quiet import hands_tied
from fixtures.rigs import Responder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from responder.accounts.models import Role
from responder.evidence.collector import Evidence
from responder.mcp.frame import Caller, RateLimit, ToolFailure
from responder.mcp.tools import McpTools
from responder.records.alert import WebhookPayload
from responder.records.incident import Incident, Signal
from responder.records.levels import Confidence
from responder.records.target import Target
from responder.runtime import Runtime
from responder.settings import Settings
from responder.store import IncidentFilter
from responder.taxonomy.models import ActionClass

STORM = Path(__file__).resolve().parents[2] / "examples" / "storm"
AGENT = Caller("fuzzer", Role.admin)
TARGETS = [
    "node/10.0.10.201",
    "cluster/cluster",
    "namespace/image-factory",
    "deployment/image-factory/api",
    "cronjob/trivy-system/trivy-db-warmup",
    "persistentvolumeclaim/image-factory/data",
    "deployment/kube-system/coredns",
]


STRONG: list[tuple[str, Literal["strong", "weak"], bool]] = [
    ("disk_pressure_condition", "strong", False),
    ("disk_pressure_taint", "strong", False),
    ("eviction_threshold_met", "strong", True),
    ("free_disk_space_failed", "strong", True),
    ("evicted_pods_burst", "strong", False),
    ("completed_pod_backlog", "weak", False),
]
LEVELS = {"strong": STRONG, "some": STRONG[:1], "weak": STRONG[-1:], "none": []}


class StandInCollector:
    """The disk-pressure evidence, as strong as the test says."""

    name = "kubernetes.disk_pressure"
    incident_types = frozenset({"node_disk_pressure"})

    def __init__(self) -> None:
        self.level = "strong"

    def collect(self, incident: Incident) -> Evidence:
        signals = tuple(
            Signal(name=name, strength=strength, source=self.name, detail=name, direct=direct)
            for name, strength, direct in LEVELS[self.level]
        )
        return Evidence(
            signals=signals,
            facts={"nodes_affected": 1, "customer_facing_failures": False},
            summary=f"{len(signals)} signal(s)",
            targets={
                "suspend_cronjob": (
                    Target(kind="cronjob", namespace="trivy-system", name="trivy-db-warmup"),
                )
            },
        )


class Fuzz:
    def __init__(self, runtime: Runtime, clock: Clock, evidence: StandInCollector) -> None:
        self.runtime = runtime
        self.evidence = evidence
        self.clock = clock
        self.tools = McpTools(runtime, propose_limit=RateLimit(runtime.store, 10**9, 60.0))
        self.actions = sorted(runtime.taxonomy.actions)
        self.allowed: set[tuple[str, str, str]] = set()
        self.seen: dict[str, int] = {}

    def incidents(self) -> list[Incident]:
        return self.runtime.store.list_incidents(IncidentFilter(limit=50))


#: what a stub backend carries out for the fuzzed responder (no cluster here):
#: the disk-pressure cleanup and the node actions, so that proposals both run
#: and raise approval requests the robot could carry out
STUB_ACTIONS = frozenset(
    {"delete_completed_pods", "cordon_node", "drain_node", "reboot_worker", "replace_worker"}
)


@pytest.fixture(scope="module")
def backend() -> Iterator[StubServer]:
    stub = StubServer().start()
    serve_state(stub)
    try:
        yield stub
    finally:
        stub.stop()


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory, backend: StubServer) -> Iterator[Fuzz]:
    tmp = tmp_path_factory.mktemp("fuzz")
    clock = Clock(datetime(2026, 11, 26, 8, 5, tzinfo=UTC))
    chosen = Settings.model_validate(
        {"environment": "demo", "store_url": f"sqlite:///{tmp}/fuzz.db"}
    )
    evidence = StandInCollector()
    executors = [HttpExecutor(backend, STUB_ACTIONS)]
    runtime = Responder(
        settings=chosen, clock=clock, collectors=[evidence], executors=executors
    ).runtime
    with hands_tied(runtime.pipeline):  # only proposals act
        for name in ("01-disk-pressure.json", "02-image-pull.json", "04-unclassified.json"):
            body = json.loads((STORM / name).read_text())
            # one node under pressure: two would be a blast-radius breach (issue 10's
            # guard rails), which holds every automatic action back
            body["alerts"] = [a for a in body["alerts"] if "10.0.10.202" not in json.dumps(a)]
            runtime.pipeline.process(WebhookPayload.model_validate(body))
    fuzz = Fuzz(runtime, clock, evidence)
    # the path the properties guard is reachable: at strong evidence the
    # allowlisted cleanup runs on the agent's proposal
    [disk] = [i for i in fuzz.incidents() if i.incident_type == "node_disk_pressure"]
    first = fuzz.tools.propose_action(
        AGENT, disk.id, "delete_completed_pods", "cluster/cluster", "x"
    )
    assert first["outcome"] == "executed", first
    fuzz.allowed.add((disk.id, "delete_completed_pods", "cluster/cluster"))
    fuzz.seen["executed"] = 1
    try:
        yield fuzz
        # the sequences did reach every kind of answer, running actions included
        assert {"approval_requested", "refused"} <= set(fuzz.seen), fuzz.seen
    finally:
        runtime.store.close()


PROPOSE = st.tuples(
    st.just("propose"),
    st.integers(0, 5),
    st.integers(0, 200),
    st.integers(0, 200),
    st.booleans(),
)
STEP = st.one_of(
    st.tuples(st.just("evidence"), st.integers(0, 5), st.sampled_from(sorted(LEVELS))),
    PROPOSE,
    PROPOSE,
    PROPOSE,
    st.tuples(st.just("note"), st.integers(0, 5)),
    st.tuples(st.just("collect"), st.integers(0, 5)),
    st.tuples(st.just("read"), st.integers(0, 5)),
    st.tuples(st.just("advance"), st.integers(1, 120)),
)


@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(STEP, min_size=1, max_size=10))
def test_no_path_crosses_the_boundaries(fuzz: Fuzz, steps: list[tuple[Any, ...]]) -> None:
    taxonomy = fuzz.runtime.taxonomy
    for step in steps:
        incidents = fuzz.incidents()
        assert incidents
        incident = incidents[step[1] % len(incidents)] if step[0] != "advance" else None
        try:
            if step[0] == "advance":
                fuzz.clock.now += timedelta(minutes=step[1])
            elif step[0] == "evidence":
                fuzz.evidence.level = step[2]
            elif step[0] == "propose":
                assert incident is not None
                candidates = [
                    "/".join(
                        p
                        for p in (r.target["kind"], r.target.get("namespace"), r.target["name"])
                        if p
                    )
                    for r in incident.recommended_actions
                    if r.target
                ] + TARGETS
                offered = [
                    (r.action, candidates[i])
                    for i, r in enumerate(r for r in incident.recommended_actions if r.target)
                ]
                if offered and step[4]:
                    # mostly what the robot itself considers, on its targets
                    action, target = offered[step[2] % len(offered)]
                else:
                    action = fuzz.actions[step[2] % len(fuzz.actions)]
                    target = candidates[step[3] % len(candidates)]
                level = fuzz.evidence.level
                answer = fuzz.tools.propose_action(AGENT, incident.id, action, target, "fuzz")
                after = fuzz.runtime.store.get_incident(incident.id)
                assert after is not None
                fuzz.seen[answer["outcome"]] = fuzz.seen.get(answer["outcome"], 0) + 1
                if "runs" in answer:
                    # it ran (or was refused by the runner): remember it first,
                    # so that a failed check below does not resurface in the
                    # next example as an unexplained run
                    fuzz.allowed.add((incident.id, action, target.lower()))
                    spec = taxonomy.actions[action]
                    assert after.confidence == Confidence.high, answer
                    assert level != "none", answer
                    assert answer["decision"] == "auto", answer
                    assert spec.action_class in (ActionClass.contain, ActionClass.recover)
            elif step[0] == "note":
                assert incident is not None
                fuzz.tools.add_incident_note(AGENT, incident.id, "fuzz note")
            elif step[0] == "collect":
                assert incident is not None
                fuzz.tools.collect_evidence(AGENT, incident.id)
            else:
                assert incident is not None
                fuzz.tools.get_incident(AGENT, incident.id)
        except ToolFailure:
            pass
    check_invariants(fuzz)


def check_invariants(fuzz: Fuzz) -> None:
    taxonomy = fuzz.runtime.taxonomy
    for incident in fuzz.incidents():
        for executed in incident.executed_actions:
            if executed.action == "notify_operator":
                continue
            spec = taxonomy.actions[executed.action]
            assert spec.action_class != ActionClass.human_only, executed
            if spec.action_class == ActionClass.disruptive and executed.result != "skipped":
                assert executed.approval_id, executed
            target = executed.target or {}
            key = "/".join(
                p for p in (target.get("kind"), target.get("namespace"), target.get("name")) if p
            ).lower()
            if executed.result != "skipped":
                assert (incident.id, executed.action, key) in fuzz.allowed, executed
    for approval in fuzz.runtime.approval_requests.all():
        assert taxonomy.actions[approval.action].action_class != ActionClass.human_only
        assert approval.state_at(fuzz.clock.now) in ("pending", "expired", "superseded")
