"""Direct health probes of the runtime dependencies and databases (Redis,
NATS, MinIO, a registry, LDAP, PostgreSQL), each the way its clients talk.
A failed probe is a strong signal, and ``direct`` when the dependency itself
answered with an error. Passwords are read from the environment at probe time
and never appear in a signal, a log line or a reference."""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import ssl
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import urlsplit

import httpx
import redis

from responder.evidence.collector import Evidence
from responder.records.incident import Incident, Signal
from responder.settings import DependencyEndpoint
from responder.store.urls import redact_url

log = logging.getLogger(__name__)

MAX_PARALLEL_PROBES = 8

RUNTIME_TYPE = "runtime_dependency_outage"
IDENTITY_TYPE = "identity_provider_unreachable"
DATABASE_TYPE = "database_connectivity_degraded"
TYPE_OF_KIND = {
    "redis": RUNTIME_TYPE,
    "nats": RUNTIME_TYPE,
    "minio": RUNTIME_TYPE,
    "registry": RUNTIME_TYPE,
    "ldap": IDENTITY_TYPE,
    "postgres": DATABASE_TYPE,
}
# What PostgreSQL (or libpq) says when a connection fails, tried in order
# against the lower-cased message: (failure, direct, needles). The server
# sends no SQLSTATE a client can read for a refused start-up.
POSTGRES_FAILURES: tuple[tuple[str, bool, tuple[str, ...]], ...] = (
    (
        "connections_exhausted",
        True,
        ("too many connections", "too many clients", "connection slots are reserved"),
    ),
    (
        "auth_error",
        True,
        (
            "authentication failed",
            "no pg_hba.conf entry",
            'role "',
            "not permitted to log in",
            "permission denied for database",
        ),
    ),
    ("database_missing", True, ('database "',)),
    ("unavailable", True, ("starting up", "shutting down", "in recovery mode")),
    ("timeout", False, ("timeout expired", "timed out")),
    ("connection_refused", False, ("connection refused",)),
)
# One round trip: client connections in use, of the server and of this database.
SATURATION_QUERY = """
SELECT
  (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),
  current_setting('max_connections')::int,
  (SELECT count(*) FROM pg_stat_activity
     WHERE backend_type = 'client backend' AND datname = current_database()),
  (SELECT datconnlimit FROM pg_database WHERE datname = current_database())
"""


@dataclass(frozen=True)
class ProbeResult:
    """``failure`` is None when healthy; else a short code
    (``connection_refused``, ``timeout``, ``auth_error``, ``unhealthy``, ...)."""

    dependency: str
    kind: str
    failure: str | None
    detail: str
    direct: bool = False

    @property
    def healthy(self) -> bool:
        return self.failure is None


class ProbeError(Exception):
    def __init__(self, failure: str, detail: str, direct: bool = False) -> None:
        super().__init__(detail)
        self.failure = failure
        self.detail = detail
        self.direct = direct


def probe(endpoint: DependencyEndpoint, environ: Mapping[str, str] | None = None) -> ProbeResult:
    """Probe one dependency; never raises."""
    env = os.environ if environ is None else environ
    password = env.get(endpoint.password_env) if endpoint.password_env else None
    username = env.get(endpoint.username_env) if endpoint.username_env else None
    where = redact_url(endpoint.url)
    try:
        detail = PROBES[endpoint.kind](endpoint, username, password)
    except ProbeError as exc:
        return ProbeResult(
            endpoint.name, endpoint.kind, exc.failure, f"{where}: {exc.detail}"[:500], exc.direct
        )
    except Exception as exc:  # a probe bug is a failed probe, not a crash
        log.warning("probe %s failed unexpectedly: %s", endpoint.name, type(exc).__name__)
        return ProbeResult(
            endpoint.name, endpoint.kind, "probe_error", f"{where}: {type(exc).__name__}"
        )
    return ProbeResult(endpoint.name, endpoint.kind, None, f"{where}: {detail}")


# the probes


def probe_redis(endpoint: DependencyEndpoint, username: str | None, password: str | None) -> str:
    client = redis.Redis.from_url(
        endpoint.url,
        username=username,
        password=password,
        socket_timeout=endpoint.timeout_seconds,
        socket_connect_timeout=endpoint.timeout_seconds,
        retry_on_timeout=False,
    )
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        raise ProbeError("auth_error", f"authentication refused: {exc}", direct=True) from None
    except redis.ResponseError as exc:
        text = str(exc)
        if text.startswith(("NOAUTH", "WRONGPASS")) or "auth" in text.lower():
            raise ProbeError("auth_error", f"authentication refused: {text}", direct=True) from None
        raise ProbeError("error_reply", f"PING answered {text}", direct=True) from None
    except redis.TimeoutError:
        raise ProbeError("timeout", f"no answer within {endpoint.timeout_seconds:g}s") from None
    except redis.ConnectionError as exc:
        raise _connection_error(exc, endpoint) from None
    finally:
        client.close()
    return "PING answered PONG"


def probe_nats(endpoint: DependencyEndpoint, username: str | None, password: str | None) -> str:
    parts = urlsplit(endpoint.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 4222
    try:
        sock = socket.create_connection((host, port), timeout=endpoint.timeout_seconds)
    except OSError as exc:
        raise _connection_error(exc, endpoint) from None
    try:
        sock.settimeout(endpoint.timeout_seconds)
        stream = sock.makefile("rwb")
        line = _read_line(stream, endpoint)
        if not line.startswith(b"INFO "):
            raise ProbeError("protocol_error", f"expected INFO, got {line[:80]!r}", direct=True)
        info = json.loads(line[5:])
        options: dict[str, object] = {"verbose": False, "pedantic": False, "name": "robot-sre"}
        if username or parts.username:
            options["user"] = username or parts.username
        if password or parts.password:
            options["pass"] = password or parts.password
        stream.write(b"CONNECT " + json.dumps(options).encode() + b"\r\nPING\r\n")
        stream.flush()
        while True:
            reply = _read_line(stream, endpoint)
            if reply == b"PONG":
                return f"PONG from NATS {info.get('version', '?')}"
            if reply == b"PING":  # the server may ping first; answer and read on
                stream.write(b"PONG\r\n")
                stream.flush()
                continue
            if reply.startswith(b"-ERR"):
                text = reply.decode("utf-8", "replace")
                failure = "auth_error" if "authori" in text.lower() else "error_reply"
                raise ProbeError(failure, f"server answered {text}", direct=True)
            if not reply.startswith(b"INFO"):
                raise ProbeError(
                    "protocol_error", f"expected PONG, got {reply[:80]!r}", direct=True
                )
    except TimeoutError:
        raise ProbeError("timeout", f"no answer within {endpoint.timeout_seconds:g}s") from None
    except (ConnectionError, OSError) as exc:
        raise _connection_error(exc, endpoint) from None
    finally:
        sock.close()


def _read_line(stream: object, endpoint: DependencyEndpoint) -> bytes:
    line: bytes = stream.readline(65536)  # type: ignore[attr-defined]
    if not line:
        raise ProbeError("connection_closed", "the server closed the connection")
    return line.rstrip(b"\r\n")


def _http_probe(endpoint: DependencyEndpoint, path: str, alive: Callable[[int], bool]) -> str:
    url = endpoint.url.rstrip("/") + path
    try:
        with httpx.Client(timeout=endpoint.timeout_seconds, follow_redirects=False) as client:
            answer = client.get(url)
    except httpx.TimeoutException:
        raise ProbeError("timeout", f"no answer within {endpoint.timeout_seconds:g}s") from None
    except httpx.ConnectError as exc:
        raise _connection_error(exc, endpoint) from None
    except httpx.HTTPError as exc:
        raise ProbeError("http_error", f"{type(exc).__name__}: {exc}") from None
    if not alive(answer.status_code):
        raise ProbeError("unhealthy", f"GET {path} answered {answer.status_code}", direct=True)
    return f"GET {path} answered {answer.status_code}"


def probe_minio(endpoint: DependencyEndpoint, username: str | None, password: str | None) -> str:
    return _http_probe(endpoint, "/minio/health/live", lambda status: status == 200)


def probe_registry(endpoint: DependencyEndpoint, username: str | None, password: str | None) -> str:
    # 401 is the registry asking for credentials: it is up and answering
    return _http_probe(endpoint, "/v2/", lambda status: status in (200, 401))


def probe_ldap(endpoint: DependencyEndpoint, username: str | None, password: str | None) -> str:
    import ldap3
    from ldap3.core import exceptions as ldap_errors

    server = ldap3.Server(
        endpoint.url, connect_timeout=endpoint.timeout_seconds, get_info=ldap3.NONE
    )
    bind_dn = endpoint.bind_dn or username
    connection = ldap3.Connection(
        server,
        user=bind_dn,
        password=password,
        # ldap3 packs this into SO_RCVTIMEO: whole seconds only
        receive_timeout=max(1, math.ceil(endpoint.timeout_seconds)),
        raise_exceptions=False,
    )
    try:
        if not connection.bind():
            result = connection.result or {}
            description = str(result.get("description", "bind failed"))
            failure = "auth_error" if description == "invalidCredentials" else "bind_failed"
            raise ProbeError(failure, f"bind as {bind_dn or 'anonymous'}: {description}", True)
        if endpoint.search_base:
            found = connection.search(
                endpoint.search_base,
                endpoint.search_filter,
                search_scope=ldap3.BASE,
                attributes=[],
            )
            if not found:
                result = connection.result or {}
                description = str(result.get("description", "no entry"))
                raise ProbeError(
                    "search_failed", f"search {endpoint.search_base}: {description}", True
                )
    except ldap_errors.LDAPSocketOpenError as exc:
        raise _connection_error(exc, endpoint) from None
    except ldap_errors.LDAPSocketReceiveError:
        raise ProbeError("timeout", f"no answer within {endpoint.timeout_seconds:g}s") from None
    except ldap_errors.LDAPCommunicationError as exc:
        raise ProbeError("connection_failed", f"{type(exc).__name__}: {exc}") from None
    finally:
        connection.unbind()
        if connection.socket is not None:
            # ldap3 keeps (open) the socket of a connect that failed, and unbind
            # leaves it: a probe of a refused LDAP server leaked a descriptor
            connection.socket.close()
    return f"bind as {bind_dn or 'anonymous'} succeeded" + (
        f", {endpoint.search_base} found" if endpoint.search_base else ""
    )


def probe_postgres(endpoint: DependencyEndpoint, username: str | None, password: str | None) -> str:
    import psycopg

    options: dict[str, Any] = {
        # libpq counts whole seconds, and treats less than 2 as 2
        "connect_timeout": max(2, math.ceil(endpoint.timeout_seconds)),
        "application_name": "robot-sre-probe",
        "autocommit": True,
    }
    if username:
        options["user"] = username
    if password:
        options["password"] = password
    try:
        with psycopg.connect(endpoint.url, **options) as connection:
            milliseconds = str(math.ceil(endpoint.timeout_seconds * 1000))
            connection.execute("SELECT set_config('statement_timeout', %s, false)", [milliseconds])
            connection.execute("SELECT 1").fetchone()
            row = connection.execute(SATURATION_QUERY).fetchone()
    except psycopg.errors.QueryCanceled:
        raise ProbeError("timeout", f"no answer within {endpoint.timeout_seconds:g}s") from None
    except psycopg.Error as exc:
        raise _postgres_error(str(exc)) from None
    used, limit, database_used, database_limit = row or (0, 0, 0, -1)
    percent, of_what = _saturation(used, limit, database_used, database_limit)
    shown = f"{used} of {limit} connections in use" + (
        f", {database_used} of this database's {database_limit}" if database_limit >= 0 else ""
    )
    if percent >= endpoint.saturation_percent:
        raise ProbeError(
            "saturated",
            f"{shown}: {percent:.0f}% of {of_what} (threshold {endpoint.saturation_percent:g}%)",
            direct=True,
        )
    return f"SELECT 1 answered; {shown} ({percent:.0f}%)"


def _saturation(
    used: int, limit: int, database_used: int, database_limit: int
) -> tuple[float, str]:
    """The fuller of the server's and the database's connection limits, as
    (percent used, which limit); a database limit of -1 means none."""
    server = 100.0 * used / limit if limit > 0 else 0.0
    if database_limit < 0:
        return server, "the server's max_connections"
    database = 100.0 * database_used / database_limit if database_limit > 0 else 100.0
    if database > server:
        return database, "the database's connection limit"
    return server, "the server's max_connections"


def _postgres_error(message: str) -> ProbeError:
    # psycopg: "connection failed: connection to server at ... failed: FATAL:  role ..."
    reason = " ".join((message.split("failed:")[-1].strip().splitlines() or [""])[0].split())
    text = message.lower()
    for failure, direct, needles in POSTGRES_FAILURES:
        if any(needle in text for needle in needles):
            return ProbeError(failure, reason[:300], direct)
    return ProbeError("connection_failed", reason[:300])


def _connection_error(exc: BaseException, endpoint: DependencyEndpoint) -> ProbeError:
    text = str(exc)
    if isinstance(exc, ConnectionRefusedError) or "refused" in text.lower():
        return ProbeError("connection_refused", "connection refused")
    if isinstance(exc, (TimeoutError, socket.timeout)) or "timed out" in text.lower():
        return ProbeError("timeout", f"no answer within {endpoint.timeout_seconds:g}s")
    if isinstance(exc, ssl.SSLError):
        return ProbeError("tls_error", f"TLS: {exc}")
    return ProbeError("connection_failed", f"{type(exc).__name__}: {text}"[:300])


PROBES: dict[str, Callable[[DependencyEndpoint, str | None, str | None], str]] = {
    "redis": probe_redis,
    "nats": probe_nats,
    "minio": probe_minio,
    "registry": probe_registry,
    "ldap": probe_ldap,
    "postgres": probe_postgres,
}


class ProbeCollector:
    """Probes the incident's dependencies: those of its type whose
    ``workloads`` globs match its workload, else all of its type. Every other
    dependency is probed too: ``impact_cascades`` holds when one of the
    incident's fails and more than one fails in all. Exit criteria hold when
    every dependency of the incident is healthy."""

    name = "probes"

    def __init__(
        self, dependencies: list[DependencyEndpoint], environ: Mapping[str, str] | None = None
    ) -> None:
        self.dependencies = list(dependencies)
        self.environ = environ
        self.incident_types = frozenset(TYPE_OF_KIND[d.kind] for d in self.dependencies)

    def select(self, incident: Incident) -> list[DependencyEndpoint]:
        serving = [d for d in self.dependencies if TYPE_OF_KIND[d.kind] == incident.incident_type]
        scope = incident.resource_scope.name
        named = [d for d in serving if any(fnmatchcase(scope, p) for p in d.patterns())]
        return named or serving

    def collect(self, incident: Incident) -> Evidence:
        chosen = self.select(incident)
        found = self._probe_all()
        mine = {id(d) for d in chosen}
        results = [(d, r) for d, r in found if id(d) in mine]
        signals: list[Signal] = []
        refs: list[str] = []
        facts: dict[str, bool | int] = {}
        for endpoint, result in results:
            refs.append(f"probe:{endpoint.kind}:{endpoint.name}")
            if result.healthy:
                continue
            signals.append(
                Signal(
                    name=f"{result.dependency}:{result.failure}",
                    strength="strong",
                    source=f"{self.name}:{result.dependency}",
                    detail=result.detail,
                    direct=result.direct,
                )
            )
            if endpoint.core:
                facts["core_workload"] = True
            if endpoint.shared:
                facts["shared_dependency"] = True
        failing = [r for _, r in results if not r.healthy]
        others = [r for d, r in found if id(d) not in mine and not r.healthy]
        facts["impact_cascades"] = bool(failing) and len(failing) + len(others) > 1
        if facts["impact_cascades"]:
            signals.append(
                Signal(
                    name="impact_cascades",
                    strength="weak",
                    source=self.name,
                    detail=f"{len(failing) + len(others)} of {len(found)} dependencies fail: "
                    + ", ".join(f"{r.dependency} {r.failure}" for r in failing + others),
                )
            )
            refs += [f"probe:{r.kind}:{r.dependency}" for r in others]
        summary = "; ".join(
            f"{r.dependency} {'ok' if r.healthy else r.failure}" for _, r in results
        )
        if others:
            summary += "; also failing: " + ", ".join(f"{r.dependency} {r.failure}" for r in others)
        return Evidence(
            signals=tuple(signals),
            facts=facts,
            refs=tuple(refs),
            summary=summary,
            exit_criteria_met=(not failing) if results else None,
        )

    def _probe_all(self) -> list[tuple[DependencyEndpoint, ProbeResult]]:
        """Every configured dependency probed at once (each within its own timeout)."""
        if not self.dependencies:
            return []
        workers = min(MAX_PARALLEL_PROBES, len(self.dependencies))
        with ThreadPoolExecutor(workers, thread_name_prefix="probe") as pool:
            answers = pool.map(lambda d: probe(d, self.environ), self.dependencies)
            return list(zip(self.dependencies, answers, strict=True))
