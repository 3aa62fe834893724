"""The cluster connection: the official ``kubernetes`` client, found as
``kubectl`` finds it, with one timeout policy for every request.

The client's own retries are off (the runner owns retrying) and every failure
is one ``KubeError``. Answers are read as plain JSON, because the generated
models reject some answers real servers give."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import urllib3
import yaml
from kubernetes import client, config

DEFAULT_KUBECONFIG = "~/.kube/config"
MERGE_PATCH = "application/merge-patch+json"
# Asks the API server for an object's metadata only (no data, no spec).
PARTIAL_METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
PARTIAL_METADATA_LIST = (
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
)


@dataclass(frozen=True)
class RequestTimeout:
    """Seconds to wait for a connection and then for each read of the answer."""

    connect: float = 3.0
    read: float = 10.0

    @property
    def pair(self) -> tuple[float, float]:
        return (self.connect, self.read)


DEFAULT_TIMEOUT = RequestTimeout()


class KubeConfigError(RuntimeError):
    """A cluster is configured but its configuration cannot be used."""


class KubeError(Exception):
    """A Kubernetes request failed. ``status`` is the HTTP status, 0 when the
    API gave no answer (timeout, refused connection); the message says what
    was asked and why it failed."""

    def __init__(self, what: str, status: int, reason: str) -> None:
        super().__init__(f"{what}: {reason}")
        self.what = what
        self.status = status
        self.reason = reason

    @property
    def not_found(self) -> bool:
        return self.status == 404


def load_api_client(kubeconfig: str | None) -> client.ApiClient | None:
    """The API client for the configured cluster, or None when no cluster is
    configured (the responder then runs in dry-run).

    Raises :class:`KubeConfigError` naming the source when a cluster is
    configured but its kubeconfig or service account cannot be loaded: a
    broken configuration must not silently turn into dry-run."""
    configuration = client.Configuration()
    default = Path(DEFAULT_KUBECONFIG).expanduser()
    if kubeconfig or default.exists():
        source = kubeconfig or str(default)
        try:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=source, client_configuration=configuration, persist_config=False
            )
        except (config.ConfigException, OSError, ValueError, TypeError, yaml.YAMLError) as exc:
            raise KubeConfigError(
                f"kubeconfig {source}: {exc}; fix it, or unset KUBECONFIG / "
                "ROBOT_SRE_KUBECONFIG to run in dry-run"
            ) from exc
    elif os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration
            )
        except config.ConfigException as exc:
            raise KubeConfigError(
                f"in-cluster service account: {exc}; mount the service account token "
                "(automountServiceAccountToken) or configure a kubeconfig"
            ) from exc
    else:
        return None
    # The runner decides about retries; urllib3's default (3 retries) would
    # multiply every timeout by four.
    configuration.retries = False
    return client.ApiClient(configuration)


class Kube:
    """The cluster's API groups the responder uses, behind one call that
    applies the timeout and the error policy."""

    def __init__(self, api_client: client.ApiClient, timeout: RequestTimeout = DEFAULT_TIMEOUT):
        self.api_client = api_client
        self.timeout = timeout
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.batch = client.BatchV1Api(api_client)
        self.networking = client.NetworkingV1Api(api_client)
        # custom resources, e.g. cert-manager's Certificates
        self.custom = client.CustomObjectsApi(api_client)

    def call(self, what: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one generated client method with the timeout; the answer's JSON
        (a dict for objects and lists). Raises :class:`KubeError`, nothing else,
        for a failed request or an unreadable answer."""
        with self._answering(what):
            response = method(
                *args, _request_timeout=self.timeout.pair, _preload_content=False, **kwargs
            )
            try:
                return json.loads(response.data or b"{}")
            finally:
                response.release_conn()

    def find(self, what: str, method: Callable[..., Any], *args: Any) -> Any | None:
        """``call`` of a read; None when the object does not exist (404)."""
        try:
            return self.call(what, method, *args)
        except KubeError as exc:
            if exc.not_found:
                return None
            raise

    @contextmanager
    def _answering(self, what: str) -> Iterator[None]:
        """Every way a request can fail, as a :class:`KubeError`."""
        try:
            yield
        except client.ApiException as exc:
            raise KubeError(what, exc.status or 0, _api_reason(exc)) from exc
        except (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ConnectTimeoutError) as exc:
            if isinstance(exc, urllib3.exceptions.NewConnectionError):
                raise KubeError(what, 0, f"cannot connect to the API: {exc}") from exc
            raise KubeError(what, 0, f"no answer within {self._limit(exc)}s (timeout)") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise KubeError(what, 0, f"no answer from the API: {exc}") from exc
        except ValueError as exc:
            raise KubeError(what, 0, f"unreadable answer: {exc}") from exc

    def items(self, what: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> list[Any]:
        """Every item of a list call, following ``continue`` pages."""
        found: list[Any] = []
        token: str | None = None
        while True:
            page_args = {**kwargs, "limit": 500}
            if token:
                page_args["_continue"] = token
            page = self.call(what, method, *args, **page_args)
            found.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return found

    def exists(self, what: str, path: str) -> bool:
        """Whether the object at the API ``path`` exists, asking for its
        metadata only: checking that a Secret exists never transfers its
        values. Raises :class:`KubeError` for anything but 404."""
        api = self.api_client
        request = api.param_serialize(
            "GET", path, header_params={"Accept": PARTIAL_METADATA}, auth_settings=["BearerToken"]
        )
        with self._answering(what):
            response = api.call_api(*request, _request_timeout=self.timeout.pair)
            response.read()  # type: ignore[no-untyped-call]
            if response.status == 404:
                return False
            if not 200 <= response.status <= 299:
                raise client.ApiException.from_response(http_resp=response, body=None, data=None)
        return True

    def names(self, what: str, path: str, field_selector: str = "") -> list[str]:
        """The names of the objects a list at the API ``path`` answers,
        asking for their metadata only: listing Secrets by type never
        transfers their values. Raises :class:`KubeError` on failure."""
        api = self.api_client
        found: list[str] = []
        token: str | None = None
        while True:
            query: list[tuple[str, Any]] = [("limit", 500)]
            if field_selector:
                query.append(("fieldSelector", field_selector))
            if token:
                query.append(("continue", token))
            request = api.param_serialize(
                "GET",
                path,
                query_params=query,
                header_params={"Accept": PARTIAL_METADATA_LIST},
                auth_settings=["BearerToken"],
            )
            with self._answering(what):
                response = api.call_api(*request, _request_timeout=self.timeout.pair)
                body = response.read()  # type: ignore[no-untyped-call]
                if not 200 <= response.status <= 299:
                    raise client.ApiException.from_response(
                        http_resp=response, body=None, data=None
                    )
                page = json.loads(body or b"{}")
            found += [str(meta(item).get("name", "")) for item in page.get("items") or []]
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return found

    def _limit(self, exc: Exception) -> float:
        connect = isinstance(exc, urllib3.exceptions.ConnectTimeoutError)
        return self.timeout.connect if connect else self.timeout.read


def load_kube(kubeconfig: str | None, timeout: RequestTimeout = DEFAULT_TIMEOUT) -> Kube | None:
    """:func:`load_api_client` wrapped in :class:`Kube`; None means dry-run."""
    api_client = load_api_client(kubeconfig)
    return None if api_client is None else Kube(api_client, timeout)


def _api_reason(exc: client.ApiException) -> str:
    """The API's own message (the ``Status`` body) when it sent one."""
    status = f"{exc.status} {exc.reason}".strip()
    try:
        body = json.loads(exc.body or b"")
    except (TypeError, ValueError):
        return status
    message = body.get("message") if isinstance(body, dict) else None
    return f"{status}: {message}" if message else status


# Reading objects (plain JSON dicts) the same way everywhere.


def meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    found = obj.get("metadata")
    return found if isinstance(found, Mapping) else {}


def labels_of(obj: Mapping[str, Any]) -> Mapping[str, str]:
    found = meta(obj).get("labels")
    return found if isinstance(found, Mapping) else {}


def controller_of(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    """(kind, name) of the object's controlling owner, if any."""
    for owner in meta(obj).get("ownerReferences") or []:
        if isinstance(owner, Mapping) and owner.get("controller"):
            return str(owner.get("kind", "")), str(owner.get("name", ""))
    return None


def parse_time(value: Any) -> datetime | None:
    """An API timestamp (RFC 3339, ``Z`` or an offset, optional fraction) as an
    aware datetime; None for anything else."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def ref(resource: str, name: str, namespace: str | None = None) -> str:
    """A raw evidence reference: ``k8s://nodes/worker-1``, ``k8s://pods/ns/name``."""
    return f"k8s://{resource}/{namespace}/{name}" if namespace else f"k8s://{resource}/{name}"
