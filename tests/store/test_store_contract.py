"""One contract, both backends: every test runs on SQLite and on a real Redis."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from responder.records.audit import AuditEntry
from responder.records.incident import HISTORY_LIMITS, TIMELINE_HEAD, Incident, ResourceScope
from responder.records.levels import Confidence, Environment, Severity
from responder.records.lifecycle import IncidentState
from responder.records.writes import DocumentPut
from responder.store import (
    IncidentFilter,
    IncidentIndex,
    LockBusy,
    Store,
    VersionConflict,
    Writes,
    held_lock,
)
from responder.store.windows import WindowCounter


def make_incident(
    incident_id: str,
    key: str = "node_disk_pressure|node//n1",
    state: IncidentState = IncidentState.triaged,
    incident_type: str = "node_disk_pressure",
    environment: Environment = Environment.demo,
    created: int = 0,
) -> Incident:
    return Incident(
        id=incident_id,
        incident_type=incident_type,
        domain="infrastructure",
        display_name="Node Disk Pressure",
        severity=Severity.warning,
        confidence=Confidence.low,
        environment=environment,
        state=state,
        correlation_key=key,
        resource_scope=ResourceScope(kind="node", name="n1"),
        created_at=datetime(2026, 11, 1, 0, 0, created, tzinfo=UTC),
    )


def test_enqueued_entry_is_claimed_once_until_acked(store: Store) -> None:
    entry_id = store.enqueue(b'{"a": 1}')
    claimed = store.claim("worker-1", 10, lease_seconds=30)
    assert [(e.id, e.body, e.deliveries) for e in claimed] == [(entry_id, b'{"a": 1}', 1)]
    assert store.claim("worker-2", 10, lease_seconds=30) == []
    assert store.queue_depth() == 1
    store.ack(entry_id)
    assert store.queue_depth() == 0


def test_queue_keeps_order(store: Store) -> None:
    ids = [store.enqueue(f"{n}".encode()) for n in range(5)]
    claimed = store.claim("w", 3, lease_seconds=30)
    assert [e.id for e in claimed] == ids[:3]
    assert [e.body for e in store.claim("w", 10, lease_seconds=30)] == [b"3", b"4"]


def test_claim_with_expired_lease_is_delivered_again(store: Store) -> None:
    entry_id = store.enqueue(b"x")
    assert [e.id for e in store.claim("dead-worker", 1, lease_seconds=0.2)] == [entry_id]
    time.sleep(0.35)
    again = store.claim("new-worker", 1, lease_seconds=30)
    assert [(e.id, e.deliveries) for e in again] == [(entry_id, 2)]


def test_a_counter_counts_until_it_expires(store: Store) -> None:
    assert [store.increment("hits:a", 0.3) for _ in range(3)] == [1, 2, 3]
    assert store.increment("hits:b", 0.3) == 1
    time.sleep(0.35)  # a fixed window: the increments did not extend it
    assert store.increment("hits:a", 0.3) == 1
    assert store.get_key("hits:a") == "1"


def test_window_counters_on_one_store_count_together(store: Store) -> None:
    now = [1_000_000.5]
    one = WindowCounter(store, "calls", 60.0, clock=lambda: now[0])
    other = WindowCounter(store, "calls", 60.0, clock=lambda: now[0])  # another replica
    count, retry_after = one.add("agent")
    assert count == 1
    assert retry_after == pytest.approx(19.5)
    assert other.add("agent")[0] == 2
    assert other.add("someone else")[0] == 1
    now[0] += 20  # the next window
    assert one.add("agent")[0] == 1


def test_set_if_absent_is_exclusive_until_expiry(store: Store) -> None:
    assert store.set_if_absent("cooldown:a", "1", ttl_seconds=0.3)
    assert not store.set_if_absent("cooldown:a", "2", ttl_seconds=0.3)
    assert store.get_key("cooldown:a") == "1"
    time.sleep(0.45)
    assert store.get_key("cooldown:a") is None
    assert store.set_if_absent("cooldown:a", "3", ttl_seconds=5)
    assert store.get_key("cooldown:a") == "3"


def test_delete_key_with_expected_value_only_deletes_own(store: Store) -> None:
    store.set_if_absent("k", "mine", ttl_seconds=5)
    assert not store.delete_key("k", expected="theirs")
    assert store.get_key("k") == "mine"
    assert store.delete_key("k", expected="mine")
    assert store.get_key("k") is None
    assert not store.delete_key("k")


def test_set_if_absent_has_one_winner_under_contention(store: Store) -> None:
    winners: list[int] = []
    barrier = threading.Barrier(8)

    def contend(n: int) -> None:
        barrier.wait()
        if store.set_if_absent("race", str(n), ttl_seconds=5):
            winners.append(n)

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1


def test_held_lock_excludes_second_holder_and_releases(store: Store) -> None:
    with (
        held_lock(store, "act:x", ttl_seconds=5),
        pytest.raises(LockBusy),
        held_lock(store, "act:x", ttl_seconds=5),
    ):
        pass
    with held_lock(store, "act:x", ttl_seconds=5):
        pass


def test_incident_round_trip_and_open_index(store: Store) -> None:
    incident = make_incident("inc-1")
    store.save_incident(incident)
    assert store.get_incident("inc-1") == incident
    assert store.open_incident_id(incident.correlation_key) == "inc-1"
    incident.move_to(IncidentState.recovering, "alerts resolved", datetime.now(UTC))
    incident.move_to(IncidentState.resolved, "quiet period over", datetime.now(UTC))
    store.save_incident(incident)
    assert store.open_incident_id(incident.correlation_key) is None
    assert store.get_incident("inc-1") == incident
    assert store.get_incident("missing") is None


def test_list_incidents_filters_and_pages_newest_first(store: Store) -> None:
    store.save_incident(make_incident("a", key="k1", created=1))
    store.save_incident(make_incident("b", key="k2", created=2, environment=Environment.production))
    store.save_incident(
        make_incident("c", key="k3", created=3, incident_type="registry_pull_failure")
    )
    store.save_incident(make_incident("d", key="k4", created=4, state=IncidentState.resolved))

    def ids(**kwargs: object) -> list[str]:
        return [i.id for i in store.list_incidents(IncidentFilter(**kwargs))]  # type: ignore[arg-type]

    assert ids() == ["d", "c", "b", "a"]
    assert ids(state=IncidentState.resolved) == ["d"]
    assert ids(incident_type="registry_pull_failure") == ["c"]
    assert ids(environment="production") == ["b"]
    assert ids(limit=2, offset=1) == ["c", "b"]
    assert sorted(i.id for i in store.incidents_in_state(IncidentState.triaged)) == ["a", "b", "c"]


def test_count_open_incidents_groups_by_type_severity_environment(store: Store) -> None:
    store.save_incident(make_incident("a", key="k1"))
    store.save_incident(make_incident("b", key="k2"))
    store.save_incident(make_incident("c", key="k3", environment=Environment.staging))
    store.save_incident(make_incident("d", key="k4", state=IncidentState.resolved))
    assert store.count_open_incidents() == {
        ("node_disk_pressure", "warning", "demo"): 2,
        ("node_disk_pressure", "warning", "staging"): 1,
    }


def test_documents_are_versioned_with_history(store: Store) -> None:
    assert store.put_document("rules", "r1", {"threshold": 1}) == 1
    assert store.put_document("rules", "r1", {"threshold": 2}) == 2
    assert store.get_document("rules", "r1") == (2, {"threshold": 2})
    assert store.document_history("rules", "r1") == [(1, {"threshold": 1}), (2, {"threshold": 2})]
    store.put_document("rules", "r0", {"x": True})
    assert store.list_documents("rules") == [(1, {"x": True}), (2, {"threshold": 2})]
    assert store.list_documents("approvals") == []


def test_document_compare_and_set_refuses_stale_writer(store: Store) -> None:
    assert store.put_document("approvals", "a1", {"state": "pending"}, expected_version=0) == 1
    with pytest.raises(VersionConflict):
        store.put_document("approvals", "a1", {"state": "pending"}, expected_version=0)
    assert store.put_document("approvals", "a1", {"state": "approved"}, expected_version=1) == 2
    with pytest.raises(VersionConflict):
        store.put_document("approvals", "a1", {"state": "denied"}, expected_version=1)
    assert store.get_document("approvals", "a1") == (2, {"state": "approved"})


def test_deleted_document_is_gone_but_history_remains(store: Store) -> None:
    store.put_document("rules", "r1", {"v": 1})
    assert store.delete_document("rules", "r1")
    assert store.get_document("rules", "r1") is None
    assert store.list_documents("rules") == []
    assert not store.delete_document("rules", "r1")
    assert store.document_history("rules", "r1") == [(1, {"v": 1})]
    assert store.put_document("rules", "r1", {"v": 3}, expected_version=0) == 3


def test_audit_is_append_only_newest_first(store: Store) -> None:
    first = store.append_audit(
        AuditEntry(actor="alice", surface="api", action="rule.create", subject="rule:r1")
    )
    second = store.append_audit(
        AuditEntry(
            actor="bob",
            surface="cli",
            action="rule.update",
            subject="rule:r1",
            before={"v": 1},
            after={"v": 2},
        )
    )
    store.append_audit(
        AuditEntry(actor="robot", surface="worker", action="x", subject="incident:1")
    )
    assert first.id and second.id and first.id != second.id
    assert [e.action for e in store.list_audit()] == ["x", "rule.update", "rule.create"]
    assert store.list_audit(limit=1)[0].action == "x"
    by_subject = store.list_audit(subject="rule:r1")
    assert [e.actor for e in by_subject] == ["bob", "alice"]
    assert by_subject[0].before == {"v": 1} and by_subject[0].after == {"v": 2}


def test_ping_answers(store: Store) -> None:
    store.ping()


def test_documents_listed_by_id_prefix(store: Store) -> None:
    for doc_id in ("inc1-a", "inc1-b", "inc10-a", "inc2-a", "inc1*x"):
        store.put_document("approvals", doc_id, {"id": doc_id})
    store.delete_document("approvals", "inc1-b")
    assert [d["id"] for _, d in store.list_documents("approvals", prefix="inc1-")] == ["inc1-a"]
    assert [d["id"] for _, d in store.list_documents("approvals", prefix="inc1*")] == ["inc1*x"]
    assert len(store.list_documents("approvals", prefix="inc")) == 4
    assert store.list_documents("approvals", prefix="nope") == []
    writes = Writes()
    writes.put(DocumentPut("approvals", "inc1-c", {"id": "inc1-c"}, 0))
    store.commit(writes)
    listed = store.list_documents("approvals", prefix="inc1-")
    assert [d["id"] for _, d in listed] == ["inc1-a", "inc1-c"]


class NodeIndexer:
    """Indexes node incidents by node while open, and schedules them at
    ``due`` seconds after their creation."""

    def __init__(self, signature: str = "nodes-v1", due: float = 60.0) -> None:
        self.signature = signature
        self.due = due

    def __call__(self, incident: Incident) -> IncidentIndex:
        if not incident.is_open:
            return IncidentIndex()
        return IncidentIndex(
            {f"nodes:{incident.environment}": incident.resource_scope.name},
            incident.created_at.timestamp() + self.due,
        )


def _ensure(store: Store, indexer: NodeIndexer) -> int:
    store.use_index(indexer)
    return store.ensure_index()


def test_open_incidents_are_read_by_correlation_key_in_one_call(store: Store) -> None:
    store.save_incident(make_incident("a", key="k1"))
    store.save_incident(make_incident("b", key="k2"))
    store.save_incident(make_incident("c", key="k3", state=IncidentState.resolved))
    found = store.open_incidents(["k1", "k2", "k3", "k4", "k1"])
    assert {key: incident.id for key, incident in found.items()} == {"k1": "a", "k2": "b"}
    assert set(store.get_incidents(["a", "c", "zz"])) == {"a", "c"}


def test_locks_and_the_open_incidents_behind_them_in_one_call(store: Store) -> None:
    store.save_incident(make_incident("a", key="k1"))
    store.save_incident(make_incident("c", key="k3", state=IncidentState.resolved))
    store.acquire_locks(["incident:k2"], ttl_seconds=5)  # held elsewhere
    held, found = store.lock_open_incidents(
        ["incident:k1", "incident:k2", "incident:k3"], 5, ["k1", "k2", "k3", "k4"]
    )
    assert set(held) == {"incident:k1", "incident:k3"}
    assert {key: incident.id for key, incident in found.items()} == {"k1": "a"}
    assert store.acquire_locks(["incident:k1"], ttl_seconds=5) == {}
    store.release_locks(held)
    assert set(store.acquire_locks(["incident:k1"], ttl_seconds=5)) == {"incident:k1"}


def test_indexes_follow_every_save_of_an_indexed_store(store: Store) -> None:
    assert _ensure(store, NodeIndexer()) == 0
    first = make_incident("a", key="k1", created=1)
    store.save_incident(first)
    store.save_incident(make_incident("b", key="k2", created=2, environment=Environment.staging))
    assert store.index("nodes:demo") == {"a": "n1"}
    assert store.index("nodes:staging") == {"b": "n1"}
    due = datetime(2026, 11, 1, 0, 1, 2, tzinfo=UTC).timestamp()
    assert store.due_incidents(due - 1, 10) == ["a"]
    assert store.due_incidents(due, 10) == ["a", "b"]
    assert store.due_incidents(due, 1) == ["a"]
    first.move_to(IncidentState.recovering, "quiet", datetime.now(UTC))
    first.move_to(IncidentState.resolved, "gone", datetime.now(UTC))
    store.save_incident(first)
    assert store.index("nodes:demo") == {}
    assert store.due_incidents(due, 10) == ["b"]


def test_a_new_indexer_indexes_the_incidents_already_stored(store: Store) -> None:
    store.save_incident(make_incident("a", key="k1"))
    store.save_incident(make_incident("b", key="k2", state=IncidentState.resolved))
    assert store.index("nodes:demo") == {}
    assert _ensure(store, NodeIndexer("v1")) == 2
    assert store.index("nodes:demo") == {"a": "n1"}
    assert _ensure(store, NodeIndexer("v1")) == 0  # the same signature: nothing to do
    assert _ensure(store, NodeIndexer("v2", due=0)) == 2
    assert store.due_incidents(datetime(2026, 11, 1, tzinfo=UTC).timestamp(), 10) == ["a"]


def test_commit_writes_everything_together_and_reports_stale_documents(store: Store) -> None:
    store.put_document("approvals", "x", {"v": 1})
    ran: list[str] = []
    writes = Writes()
    incident = make_incident("a", key="k1")
    writes.save_incident(incident)
    incident.record("later", "a change made before the commit is stored too", datetime.now(UTC))
    writes.put(DocumentPut("approvals", "new", {"v": 1}, 0))
    writes.put(DocumentPut("approvals", "x", {"v": 2}, 0))  # stale
    writes.change_document("inbox", "a", lambda doc: doc.setdefault("events", []).append(1))
    writes.change_document("inbox", "a", lambda doc: doc["events"].append(2))
    writes.append_audit(AuditEntry(actor="robot", surface="worker", action="a", subject="s"))
    writes.set_key("cooldown:x", "1", 5)
    writes.on_commit(lambda: ran.append("after"))
    committed = store.commit(writes)
    assert committed.conflicts == (("approvals", "x"),)
    assert len(committed.audit_ids) == 1 and committed.audit_ids[0]
    stored = store.get_incident("a")
    assert stored is not None and stored.timeline[-1].event == "later"
    assert store.get_document("approvals", "new") == (1, {"v": 1})
    assert store.get_document("approvals", "x") == (1, {"v": 1})
    assert store.get_document("inbox", "a") == (1, {"events": [1, 2]})
    assert store.get_key("cooldown:x") == "1"
    assert [e.action for e in store.list_audit(subject="s")] == ["a"]
    assert ran == ["after"]
    again = Writes()
    again.change_document("inbox", "a", lambda doc: doc["events"].append(3))
    again.delete_key("cooldown:x")
    store.commit(again)
    assert store.get_document("inbox", "a") == (2, {"events": [1, 2, 3]})
    assert store.get_key("cooldown:x") is None


def test_locks_are_taken_together_and_released_by_their_holder_only(store: Store) -> None:
    held = store.acquire_locks(["a", "b", "a"], ttl_seconds=5)
    assert set(held) == {"a", "b"}
    assert store.acquire_locks(["a", "c"], ttl_seconds=5).keys() == {"c"}
    with pytest.raises(LockBusy), held_lock(store, "b", ttl_seconds=5):
        pass
    store.release_locks({"a": "not-the-token"})
    assert store.acquire_locks(["a"], ttl_seconds=5) == {}
    store.release_locks(held)
    assert set(store.acquire_locks(["a", "b"], ttl_seconds=5)) == {"a", "b"}


def test_an_incidents_histories_stay_bounded_with_what_was_dropped_counted(store: Store) -> None:
    incident = make_incident("long")
    at = datetime(2026, 11, 1, tzinfo=UTC)
    for n in range(HISTORY_LIMITS["timeline"] + 100):
        incident.record("poll", f"look {n}", at)
    incident.decisions = [{"action": "notify_operator", "n": n} for n in range(80)]
    store.save_incident(incident)
    saved = store.get_incident("long")
    assert saved is not None
    assert len(saved.timeline) == HISTORY_LIMITS["timeline"]
    # how it opened stays, then the latest
    details = [e.detail for e in saved.timeline]
    assert details[:TIMELINE_HEAD] == [f"look {n}" for n in range(TIMELINE_HEAD)]
    assert details[-1] == f"look {HISTORY_LIMITS['timeline'] + 99}"
    assert f"look {TIMELINE_HEAD}" not in details
    assert [d["n"] for d in saved.decisions] == list(range(30, 80))
    assert saved.history_dropped == {"timeline": 100, "decisions": 30}
    saved.record("poll", "one more", at)
    store.save_incident(saved)
    again = store.get_incident("long")
    assert again is not None and again.history_dropped["timeline"] == 101
