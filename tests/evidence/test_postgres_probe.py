"""The PostgreSQL dependency probe against the machine's real PostgreSQL on
127.0.0.1:5432: a healthy database, a refused port, a missing database, an
unknown role, connection saturation and a database at its connection limit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import psycopg
import pytest
from fixtures.incidents import make_incident
from fixtures.postgres import (
    ADMIN_URL,
    ScratchDatabase,
    max_connections,
    require_postgres,
    scratch_database,
)
from fixtures.processes import free_port, port_answers
from pydantic import ValidationError

from responder.evidence.probes import ProbeCollector, probe
from responder.records.incident import Incident, ResourceScope
from responder.settings import DependencyEndpoint, Settings

SECRET = "pg-probe-s3cret"


def _postgres(url: str, **extra: object) -> DependencyEndpoint:
    return DependencyEndpoint.model_validate(
        {"name": "orders-db", "kind": "postgres", "url": url, "timeout_seconds": 3, **extra}
    )


@pytest.fixture(scope="module")
def admin_url() -> str:
    return require_postgres()


@pytest.fixture
def limited() -> Iterator[ScratchDatabase]:
    with scratch_database(connection_limit=3) as database:
        yield database


def _hold(stack: ExitStack, url: str, count: int) -> None:
    for _ in range(count):
        stack.enter_context(psycopg.connect(url))


def test_a_healthy_database_answers_select_1_with_its_connection_count(admin_url: str) -> None:
    result = probe(_postgres(admin_url))
    assert result.healthy
    assert "SELECT 1 answered" in result.detail
    assert "connections in use" in result.detail


def test_a_refused_port_is_a_connection_failure_not_a_direct_one() -> None:
    port = free_port()
    assert not port_answers("127.0.0.1", port)
    result = probe(_postgres(f"postgresql://postgres@127.0.0.1:{port}/test"))
    assert (result.failure, result.direct) == ("connection_refused", False)


def test_a_missing_database_is_a_direct_failure(admin_url: str) -> None:
    result = probe(_postgres("postgresql://postgres@127.0.0.1:5432/rsre_no_such_database"))
    assert (result.failure, result.direct) == ("database_missing", True)
    assert 'database "rsre_no_such_database" does not exist' in result.detail


def test_an_unknown_role_is_an_auth_error(admin_url: str) -> None:
    result = probe(_postgres("postgresql://rsre_no_such_role@127.0.0.1:5432/test"))
    assert (result.failure, result.direct) == ("auth_error", True)
    assert 'role "rsre_no_such_role"' in result.detail


def test_connections_held_open_saturate_the_server(admin_url: str) -> None:
    with scratch_database() as database, ExitStack() as stack:
        _hold(stack, database.url(), 3)
        # ours (3) and the probe's own: at least 4 of max_connections in use
        threshold = 100 * 4 / max_connections()
        result = probe(_postgres(database.url(), saturation_percent=threshold))
    assert (result.failure, result.direct) == ("saturated", True)
    assert "of the server's max_connections" in result.detail


def test_the_database_limit_saturates_before_the_server(limited: ScratchDatabase) -> None:
    with ExitStack() as stack:
        _hold(stack, limited.url(), 1)
        result = probe(_postgres(limited.url(), saturation_percent=60))
    assert result.failure == "saturated"
    assert "2 of this database's 3" in result.detail
    assert "67% of the database's connection limit (threshold 60%)" in result.detail


def test_below_the_threshold_the_database_is_healthy(limited: ScratchDatabase) -> None:
    result = probe(_postgres(limited.url(), saturation_percent=60))
    assert result.healthy, result.detail
    assert "1 of this database's 3" in result.detail


def test_a_database_at_its_connection_limit_refuses_the_probe(limited: ScratchDatabase) -> None:
    with ExitStack() as stack:
        _hold(stack, limited.url(), 3)
        result = probe(_postgres(limited.url()))
    assert (result.failure, result.direct) == ("connections_exhausted", True)
    assert "too many connections" in result.detail


def test_the_password_comes_from_the_environment_and_never_shows() -> None:
    # trust authentication accepts any password: the probe connects with it
    endpoint = _postgres(ADMIN_URL, password_env="ORDERS_DB_PASSWORD")
    result = probe(endpoint, {"ORDERS_DB_PASSWORD": SECRET})
    assert result.healthy
    assert SECRET not in result.detail
    in_url = _postgres(f"postgresql://postgres:{SECRET}@127.0.0.1:5432/test")
    assert SECRET not in probe(in_url).detail
    assert SECRET not in str(Settings(dependencies=[in_url]).redacted())


def test_a_key_value_dsn_is_refused_so_no_password_can_hide_in_it() -> None:
    with pytest.raises(ValidationError, match="a postgres url is postgresql://"):
        _postgres(f"host=127.0.0.1 dbname=test password={SECRET}")


def _database_incident() -> Incident:
    return make_incident(
        incident_type="database_connectivity_degraded",
        key="database_connectivity_degraded|x",
        resource_scope=ResourceScope(kind="instance", name="10.0.0.5:9187"),
    )


def test_the_collector_serves_database_incidents_with_strong_signals(admin_url: str) -> None:
    healthy = _postgres(admin_url).model_copy(update={"name": "orders-db", "core": True})
    missing = _postgres("postgresql://postgres@127.0.0.1:5432/rsre_gone").model_copy(
        update={"name": "billing-db"}
    )
    collector = ProbeCollector([healthy, missing], {})
    assert collector.incident_types == {"database_connectivity_degraded"}
    evidence = collector.collect(_database_incident())
    [signal] = evidence.signals
    assert (signal.name, signal.strength, signal.direct) == (
        "billing-db:database_missing",
        "strong",
        True,
    )
    assert evidence.exit_criteria_met is False
    assert evidence.facts == {"impact_cascades": False}
    assert evidence.refs == ("probe:postgres:orders-db", "probe:postgres:billing-db")
