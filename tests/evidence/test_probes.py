"""Direct dependency probes against real servers: the machine's Redis and
NATS, a redis-server and a nats-server started here with credentials, a real
slapd, and a local HTTP server for the MinIO and registry health endpoints."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixtures.http_stub import Answer, StubServer, serve
from fixtures.incidents import make_incident
from fixtures.processes import free_port, port_answers, start_redis, stop_process, wait_until
from fixtures.slapd import Slapd, slapd  # noqa: F401  (a fixture)

from responder.evidence.probes import ProbeCollector, probe
from responder.records.incident import Incident, ResourceScope
from responder.settings import DependencyEndpoint, Settings

SECRET = "s3cret-probe-password"


def _endpoint(kind: str, url: str, **extra: object) -> DependencyEndpoint:
    return DependencyEndpoint.model_validate({"name": kind, "kind": kind, "url": url, **extra})


def _closed_port() -> int:
    port = free_port()
    assert not port_answers("127.0.0.1", port)
    return port


@pytest.fixture(scope="module")
def redis_with_password(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    proc, port = start_redis(tmp_path_factory.mktemp("redis-auth"), "--requirepass", SECRET)
    try:
        yield port
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def nats_with_password() -> Iterator[int]:
    binary = shutil.which("nats-server") or shutil.which("nats-server", path="/usr/sbin")
    if binary is None:
        raise RuntimeError("nats-server is not installed: apt-get install nats-server")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "-a", "127.0.0.1", "-p", str(port), "--user", "robot", "--pass", SECRET],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: port_answers("127.0.0.1", port), 10, "nats-server with a password")
        yield port
    finally:
        stop_process(proc)


@pytest.fixture
def http() -> Iterator[StubServer]:
    yield from serve()


# Redis and NATS: the machine's servers, and servers started here with a password

#: kind -> the URL of its server on ``port``
URLS = {"redis": "redis://127.0.0.1:{port}/0", "nats": "nats://127.0.0.1:{port}"}
MACHINE_PORTS = {"redis": 6379, "nats": 4222}


@dataclass(frozen=True)
class Guarded:
    """A server started with a password, and the environment a probe reads it from."""

    endpoint: DependencyEndpoint
    environment: Callable[[str], dict[str, str]]


@pytest.fixture(params=["redis", "nats"])
def guarded(request: pytest.FixtureRequest) -> Guarded:
    kind: str = request.param
    port: int = request.getfixturevalue(f"{kind}_with_password")
    url = URLS[kind].format(port=port)
    if kind == "redis":
        return Guarded(_endpoint(kind, url, password_env="REDIS_PW"), lambda pw: {"REDIS_PW": pw})
    return Guarded(
        _endpoint(kind, url, username_env="NU", password_env="NP"),
        lambda pw: {"NU": "robot", "NP": pw},
    )


@pytest.mark.parametrize("kind", ["redis", "nats"])
def test_ping_on_the_machines_server_is_healthy(kind: str) -> None:
    result = probe(_endpoint(kind, URLS[kind].format(port=MACHINE_PORTS[kind])))
    assert result.healthy, result.detail
    assert "PONG" in result.detail


def test_wrong_password_is_a_direct_auth_error(guarded: Guarded) -> None:
    result = probe(guarded.endpoint, guarded.environment("wrong-password"))
    assert (result.failure, result.direct) == ("auth_error", True), result.detail
    assert "wrong-password" not in result.detail


def test_redis_missing_password_is_a_direct_auth_error(redis_with_password: int) -> None:
    result = probe(_endpoint("redis", f"redis://127.0.0.1:{redis_with_password}/0"), {})
    assert (result.failure, result.direct) == ("auth_error", True)


def test_right_password_from_the_environment_is_healthy(guarded: Guarded) -> None:
    assert probe(guarded.endpoint, guarded.environment(SECRET)).healthy


@pytest.mark.parametrize("kind", ["redis", "nats"])
def test_connection_refused_is_strong_but_not_direct(kind: str) -> None:
    result = probe(_endpoint(kind, URLS[kind].format(port=_closed_port())))
    assert (result.failure, result.direct) == ("connection_refused", False)


# MinIO and registry over HTTP


def test_minio_live_endpoint_answering_200_is_healthy(http: StubServer) -> None:
    http.route("GET", "/minio/health/live", lambda r, m: Answer(200))
    assert probe(_endpoint("minio", http.url)).healthy
    assert [r.path for r in http.requests] == ["/minio/health/live"]


def test_minio_answering_503_is_a_direct_unhealthy_signal(http: StubServer) -> None:
    http.route("GET", "/minio/health/live", lambda r, m: Answer(503))
    result = probe(_endpoint("minio", http.url))
    assert (result.failure, result.direct) == ("unhealthy", True)
    assert "503" in result.detail


@pytest.mark.parametrize("status", [200, 401])
def test_registry_v2_answering_200_or_401_is_alive(http: StubServer, status: int) -> None:
    http.route("GET", "/v2/", lambda r, m: Answer(status, {}))
    assert probe(_endpoint("registry", http.url)).healthy


def test_registry_answering_500_is_unhealthy(http: StubServer) -> None:
    http.route("GET", "/v2/", lambda r, m: Answer(500, {}))
    assert probe(_endpoint("registry", http.url)).failure == "unhealthy"


def test_http_probe_that_hangs_times_out_within_its_deadline(http: StubServer) -> None:
    http.fail("GET", "/v2/", "hang")
    result = probe(_endpoint("registry", http.url, timeout_seconds=0.5))
    assert result.failure == "timeout"


# LDAP against a real slapd


def _ldap(server: Slapd, **extra: object) -> DependencyEndpoint:
    return _endpoint(
        "ldap",
        server.url,
        bind_dn=server.admin_dn,
        password_env="LDAP_PW",
        search_base=server.suffix,
        **extra,
    )


def test_ldap_bind_and_base_search_is_healthy(slapd: Slapd) -> None:  # noqa: F811
    result = probe(_ldap(slapd), {"LDAP_PW": slapd.password})
    assert result.healthy, result.detail
    assert slapd.suffix in result.detail


def test_ldap_invalid_credentials_is_a_direct_auth_error(slapd: Slapd) -> None:  # noqa: F811
    result = probe(_ldap(slapd), {"LDAP_PW": "not-the-password"})
    assert (result.failure, result.direct) == ("auth_error", True)
    assert "not-the-password" not in result.detail


def test_ldap_missing_search_base_is_a_direct_search_failure(slapd: Slapd) -> None:  # noqa: F811
    endpoint = _ldap(slapd).model_copy(update={"search_base": "dc=missing,dc=test"})
    result = probe(endpoint, {"LDAP_PW": slapd.password})
    assert (result.failure, result.direct) == ("search_failed", True)


def test_ldap_connection_refused_is_a_strong_signal() -> None:
    endpoint = _endpoint("ldap", f"ldap://127.0.0.1:{_closed_port()}", timeout_seconds=1)
    collector = ProbeCollector([endpoint], {})
    evidence = collector.collect(_incident("identity_provider_unreachable", "glauth"))
    [signal] = evidence.signals
    assert (signal.name, signal.strength, signal.direct) == (
        "ldap:connection_refused",
        "strong",
        False,
    )
    assert evidence.exit_criteria_met is False


# the collector


def _incident(incident_type: str, workload: str) -> Incident:
    scope = ResourceScope(kind="deployment", namespace="platform", name=workload)
    key = f"{incident_type}|x"
    return make_incident(incident_type=incident_type, key=key, resource_scope=scope)


def _healthy_cache_and_broken_core_bus() -> ProbeCollector:
    cache = _endpoint("redis", "redis://127.0.0.1:6379/0").model_copy(update={"name": "cache"})
    broken = _endpoint("nats", f"nats://127.0.0.1:{_closed_port()}").model_copy(
        update={"name": "bus", "core": True}
    )
    return ProbeCollector([cache, broken], {})


def test_collector_probes_the_dependency_the_incident_names() -> None:
    collector = _healthy_cache_and_broken_core_bus()
    evidence = collector.collect(_incident("runtime_dependency_outage", "cache-master"))
    assert evidence.signals == ()
    assert evidence.exit_criteria_met is True
    assert evidence.refs == ("probe:redis:cache",)


def test_collector_probes_every_dependency_when_none_is_named() -> None:
    collector = _healthy_cache_and_broken_core_bus()
    evidence = collector.collect(_incident("runtime_dependency_outage", "backend"))
    assert [s.name for s in evidence.signals] == ["bus:connection_refused"]
    assert evidence.facts == {"core_workload": True, "impact_cascades": False}
    assert evidence.exit_criteria_met is False


# impact_cascades: more than one configured dependency fails, the incident's among them


def _closed(kind: str, name: str) -> DependencyEndpoint:
    scheme = {"nats": "nats", "minio": "http", "ldap": "ldap"}[kind]
    return _endpoint(kind, f"{scheme}://127.0.0.1:{_closed_port()}", timeout_seconds=1).model_copy(
        update={"name": name}
    )


def test_a_second_failing_dependency_means_the_impact_cascades() -> None:
    cache = _endpoint("redis", "redis://127.0.0.1:6379/0").model_copy(update={"name": "cache"})
    collector = ProbeCollector(
        [cache, _closed("nats", "bus"), _closed("minio", "blobs"), _closed("ldap", "glauth")], {}
    )
    evidence = collector.collect(_incident("runtime_dependency_outage", "bus"))
    assert evidence.facts["impact_cascades"] is True
    signals = {s.name: s for s in evidence.signals}
    assert set(signals) == {"bus:connection_refused", "impact_cascades"}
    assert signals["impact_cascades"].strength == "weak"
    assert signals["impact_cascades"].detail == (
        "3 of 4 dependencies fail: bus connection_refused, blobs connection_refused, "
        "glauth connection_refused"
    )
    assert evidence.refs == ("probe:nats:bus", "probe:minio:blobs", "probe:ldap:glauth")
    assert "also failing: blobs connection_refused, glauth connection_refused" in (evidence.summary)


def test_one_failing_dependency_alone_does_not_cascade() -> None:
    cache = _endpoint("redis", "redis://127.0.0.1:6379/0").model_copy(update={"name": "cache"})
    collector = ProbeCollector([cache, _closed("nats", "bus")], {})
    evidence = collector.collect(_incident("runtime_dependency_outage", "bus"))
    assert evidence.facts["impact_cascades"] is False
    assert [s.name for s in evidence.signals] == ["bus:connection_refused"]


def test_others_failing_while_the_incidents_dependency_is_healthy_is_no_cascade() -> None:
    cache = _endpoint("redis", "redis://127.0.0.1:6379/0").model_copy(update={"name": "cache"})
    collector = ProbeCollector([cache, _closed("nats", "bus"), _closed("minio", "blobs")], {})
    evidence = collector.collect(_incident("runtime_dependency_outage", "cache"))
    assert evidence.facts["impact_cascades"] is False
    assert evidence.signals == ()
    assert evidence.exit_criteria_met is True
    assert (
        evidence.summary
        == "cache ok; also failing: bus connection_refused, blobs connection_refused"
    )


def test_probe_secrets_come_from_the_environment_and_never_show(tmp_path: Path) -> None:
    settings = Settings(
        dependencies=[
            _endpoint("redis", f"redis://:{SECRET}@127.0.0.1:6379/0", password_env="REDIS_PASSWORD")
        ]
    )
    shown = str(settings.redacted())
    assert SECRET not in shown
    assert "REDIS_PASSWORD" in shown
