"""Redis-only behaviour: failing fast without leaking the password, and a key
layout that stays inside the namespace and inside one hash slot per group."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis
from fixtures.incidents import make_incident
from fixtures.processes import free_port
from redis.crc import key_slot

from responder.records.audit import AuditEntry
from responder.records.incident import Incident
from responder.records.lifecycle import IncidentState
from responder.store import IncidentFilter, StoreUnavailable, held_lock, open_store
from responder.store.redis import RedisStore, redact_url


def incident(incident_id: str, key: str, state: IncidentState = IncidentState.triaged) -> Incident:
    return make_incident(
        incident_id, key=key, state=state, created_at=datetime(2026, 11, 1, tzinfo=UTC)
    )


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    ns = f"test-layout-{uuid.uuid4().hex[:12]}"
    yield ns
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{ns}:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.mark.parametrize("operation", ["ping", "enqueue"])
def test_unreachable_redis_fails_fast_without_the_password(operation: str) -> None:
    port = free_port()
    store = RedisStore.from_url(f"redis://:sekret@127.0.0.1:{port}/0", namespace="down")
    started = time.monotonic()
    try:
        with pytest.raises(StoreUnavailable) as raised:
            if operation == "ping":
                store.ping()
            else:
                store.enqueue(b"alert")
    finally:
        store.close()
    assert time.monotonic() - started < 3
    message = str(raised.value)
    assert "sekret" not in message
    assert f"127.0.0.1:{port}" in message


def test_unreachable_redis_through_open_store_hides_query_password() -> None:
    port = free_port()
    store = open_store(f"redis://user:sekret@127.0.0.1:{port}/0?password=sekret2", "down")
    try:
        with pytest.raises(StoreUnavailable) as raised:
            store.claim("w", 1, lease_seconds=1)
    finally:
        store.close()
    assert "sekret" not in str(raised.value)
    assert "user@127.0.0.1" in str(raised.value)


def test_redact_url_keeps_everything_but_the_password() -> None:
    assert redact_url("redis://:pw@h:1/0") == "redis://h:1/0"
    assert (
        redact_url("rediss://u:pw@h:1/2?ssl_cert_reqs=none")
        == "rediss://u@h:1/2?ssl_cert_reqs=none"
    )
    assert redact_url("unix:///run/redis.sock?db=1&password=pw") == "unix:///run/redis.sock?db=1"


def test_every_key_is_namespaced_and_atomic_groups_share_a_slot(
    redis_url: str, namespace: str
) -> None:
    store = RedisStore.from_url(redis_url, namespace=namespace)
    try:
        entry_id = store.enqueue(b"a")
        store.enqueue(b"b")
        store.claim("w", 1, lease_seconds=30)
        store.ack(entry_id)
        store.set_if_absent("cooldown:x", "1", ttl_seconds=30)
        with held_lock(store, "act:y", ttl_seconds=30):
            pass
        first = incident("inc-1", "k1")
        store.save_incident(first)
        store.save_incident(incident("inc-2", "k2", IncidentState.escalated))
        first.move_to(IncidentState.recovering, "quiet", datetime.now(UTC))
        store.save_incident(first)
        assert [
            i.id for i in store.list_incidents(IncidentFilter(state=IncidentState.recovering))
        ] == ["inc-1"]
        store.put_document("rules", "r1", {"v": 1})
        store.put_document("rules", "r1", {"v": 2}, expected_version=1)
        store.put_document("approvals", "a1", {"state": "pending"}, expected_version=0)
        store.delete_document("approvals", "a1")
        store.append_audit(AuditEntry(actor="a", surface="api", action="x", subject="rule:r1"))

        client = redis.Redis.from_url(redis_url, decode_responses=True)
        try:
            keys = sorted(client.scan_iter(match=f"*{namespace}*", count=1000))
        finally:
            client.close()
    finally:
        store.close()

    assert keys, "the operations above wrote no keys"
    assert all(key.startswith(f"{namespace}:{{") for key in keys), keys

    def slots(tag: str) -> set[int]:
        group = [key for key in keys if f":{{{tag}}}:" in key]
        assert group, f"no keys tagged {{{tag}}} in {keys}"
        return {key_slot(key.encode()) for key in group}

    for tag in ("queue", "incidents", "docs:rules", "docs:approvals", "audit"):
        assert len(slots(tag)) == 1, tag
    assert f"{namespace}:{{key:cooldown:x}}" in keys
    assert not any("lock:act:y" in key for key in keys)  # released


def test_queue_recovers_when_its_stream_is_deleted(redis_url: str, namespace: str) -> None:
    store = RedisStore.from_url(redis_url, namespace=namespace)
    try:
        store.enqueue(b"first")
        assert [e.body for e in store.claim("w", 5, lease_seconds=30)] == [b"first"]
        client = redis.Redis.from_url(redis_url)
        try:
            client.delete(f"{namespace}:{{queue}}:stream", f"{namespace}:{{queue}}:leases")
        finally:
            client.close()
        store.enqueue(b"second")
        assert [(e.body, e.deliveries) for e in store.claim("w", 5, lease_seconds=30)] == [
            (b"second", 1)
        ]
    finally:
        store.close()


def test_namespaces_do_not_see_each_other(redis_url: str, namespace: str) -> None:
    one = RedisStore.from_url(redis_url, namespace=namespace)
    other = RedisStore.from_url(redis_url, namespace=f"{namespace}-other")
    try:
        one.enqueue(b"x")
        one.set_if_absent("k", "v", ttl_seconds=30)
        assert other.queue_depth() == 0
        assert other.get_key("k") is None
        assert other.set_if_absent("k", "w", ttl_seconds=1)
    finally:
        one.close()
        other.close()


def test_namespace_with_braces_is_refused() -> None:
    with pytest.raises(ValueError):
        RedisStore.from_url("redis://127.0.0.1:1/0", namespace="a{b}")


def test_documents_written_before_the_id_index_are_listed_by_prefix(
    redis_url: str, namespace: str
) -> None:
    store = RedisStore.from_url(redis_url, namespace=namespace)
    try:
        for doc_id in ("inc1-a", "inc1-b", "inc2-a"):
            store.put_document("approvals", doc_id, {"id": doc_id})
        # as an older responder left them: no id index beside the documents
        store._client.delete(f"{namespace}:{{docs:approvals}}:ids")
        listed = store.list_documents("approvals", prefix="inc1-")
        assert [d["id"] for _, d in listed] == ["inc1-a", "inc1-b"]
        store.delete_document("approvals", "inc1-a")
        assert [d["id"] for _, d in store.list_documents("approvals", prefix="inc1")] == ["inc1-b"]
    finally:
        store.close()
