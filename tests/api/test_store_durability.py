"""Know your store: a store that keeps nothing on disk (a Redis without AOF or
RDB snapshots, SQLite in memory) is reported at start and in ``/readyz``: a
warning in demo and staging, not ready in production unless
``allow_volatile_store`` says the operator accepts it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures.processes import start_redis
from starlette.testclient import TestClient

from responder.app import create_app
from responder.settings import Settings
from responder.store import open_store

PERSISTENCE = {
    "nothing": (),
    "aof": ("--appendonly", "yes"),
    "rdb": ("--save", "3600 1"),
}


@pytest.fixture(scope="module")
def redis_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    started = {
        name: start_redis(tmp_path_factory.mktemp(f"redis-{name}"), *options)
        for name, options in PERSISTENCE.items()
    }
    try:
        yield {name: f"redis://127.0.0.1:{port}/0" for name, (_, port) in started.items()}
    finally:
        for proc, _ in started.values():
            proc.terminate()
            proc.wait()


def test_a_redis_that_keeps_nothing_is_reported(redis_urls: dict[str, str]) -> None:
    store = open_store(redis_urls["nothing"], "readiness")
    try:
        found = store.volatility()
    finally:
        store.close()
    assert found is not None
    assert "keeps nothing on disk" in found and "lost" in found


@pytest.mark.parametrize("persistence", ["aof", "rdb"])
def test_a_redis_with_aof_or_rdb_is_not(redis_urls: dict[str, str], persistence: str) -> None:
    store = open_store(redis_urls[persistence], "readiness")
    try:
        assert store.volatility() is None
    finally:
        store.close()


def test_sqlite_in_a_file_keeps_what_it_accepts_and_in_memory_does_not(tmp_path: Path) -> None:
    on_disk = open_store(f"sqlite:///{tmp_path}/state.db")
    in_memory = open_store("sqlite:///:memory:")
    try:
        assert on_disk.volatility() is None
        assert "memory" in (in_memory.volatility() or "")
    finally:
        on_disk.close()
        in_memory.close()


def readyz(url: str, **settings: object) -> tuple[int, dict[str, object]]:
    values: dict[str, object] = {"store_url": url, "store_namespace": "readiness", **settings}
    with TestClient(create_app(Settings.model_validate(values))) as client:
        answer = client.get("/readyz")
        return answer.status_code, answer.json()


def test_production_on_a_store_that_keeps_nothing_is_not_ready(
    redis_urls: dict[str, str],
) -> None:
    status, body = readyz(redis_urls["nothing"], environment="production")
    assert status == 503
    assert "keeps nothing on disk" in str(body["store"])
    assert "appendonly" in str(body["hint"])


def test_production_may_accept_a_volatile_store_explicitly(redis_urls: dict[str, str]) -> None:
    status, body = readyz(
        redis_urls["nothing"], environment="production", allow_volatile_store=True
    )
    assert status == 200
    assert "keeps nothing on disk" in str(body["warnings"])


@pytest.mark.parametrize("environment", ["demo", "staging"])
def test_elsewhere_a_volatile_store_is_a_warning(
    redis_urls: dict[str, str], environment: str
) -> None:
    status, body = readyz(redis_urls["nothing"], environment=environment)
    assert status == 200
    assert "keeps nothing on disk" in str(body["warnings"])


def test_production_on_redis_with_aof_is_ready_without_warnings(
    redis_urls: dict[str, str],
) -> None:
    status, body = readyz(redis_urls["aof"], environment="production")
    assert status == 200
    assert "warnings" not in body
