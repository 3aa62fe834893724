"""Access to OCI through the ``oci`` SDK: the clients shared by the OCI
executors and the OCI evidence, and the node → instance mapping.

The clients never retry and have no circuit breaker: the action runner owns
retries and deadlines, so one call is one request. Every client honours a
``*_endpoint`` setting, which is how tests point the real SDK at a local server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import oci

from responder.settings import OciSettings

PROVIDER_PREFIX = "oci://"


@dataclass(frozen=True)
class OciClients:
    compute: Any
    container_engine: Any
    settings: OciSettings


def build_clients(
    settings: OciSettings, config: dict[str, Any] | None = None, signer: Any = None
) -> OciClients:
    """Clients as configured; ``config``/``signer`` replace the config file
    (tests pass a throwaway config and key)."""
    if config is None:
        if settings.auth == "instance_principal":
            signer = signer or oci.auth.signers.InstancePrincipalsSecurityTokenSigner()
            config = {"region": settings.region or signer.region}
        else:
            config = oci.config.from_file(settings.config_file, settings.profile)
    config = dict(config)
    if settings.region:
        config["region"] = settings.region
    common: dict[str, Any] = {
        "retry_strategy": oci.retry.NoneRetryStrategy(),
        "circuit_breaker_strategy": oci.circuit_breaker.NoCircuitBreakerStrategy(),
        "timeout": (settings.connect_timeout_seconds, settings.read_timeout_seconds),
    }
    if signer is not None:
        common["signer"] = signer

    def endpoint(value: str | None) -> dict[str, Any]:
        return {"service_endpoint": value} if value else {}

    return OciClients(
        compute=oci.core.ComputeClient(config, **common, **endpoint(settings.compute_endpoint)),
        container_engine=oci.container_engine.ContainerEngineClient(
            config, **common, **endpoint(settings.container_engine_endpoint)
        ),
        settings=settings,
    )


def instance_from_provider_id(provider_id: str | None) -> str | None:
    """``oci://ocid1.instance.…`` (a node's ``spec.providerID`` on OKE) → the OCID."""
    if not provider_id:
        return None
    value = provider_id.removeprefix(PROVIDER_PREFIX)
    return value if value.startswith("ocid1.instance.") else None


class NodeInstances(Protocol):
    def instance_id(self, node: str) -> str | None:
        """The OCI instance behind Kubernetes node ``node``, or None."""


class ProviderIdInstances:
    """Node → instance through the node's ``spec.providerID``, read by
    ``read_provider_id`` (the Kubernetes side); ``static`` (settings
    ``oci.node_instances``) answers for nodes it cannot read. A node name
    that is itself an instance OCID maps to itself."""

    def __init__(
        self,
        read_provider_id: Callable[[str], str | None] | None = None,
        static: dict[str, str] | None = None,
    ) -> None:
        self.read_provider_id = read_provider_id
        self.static = dict(static or {})

    def instance_id(self, node: str) -> str | None:
        if node.startswith("ocid1.instance."):
            return node
        if self.read_provider_id is not None:
            found = instance_from_provider_id(self.read_provider_id(node))
            if found:
                return found
        return self.static.get(node)


def describe_error(exc: BaseException) -> str:
    """One line about an OCI failure, without request signatures or keys."""
    if isinstance(exc, oci.exceptions.ServiceError):
        return f"OCI answered {exc.status} {exc.code}: {exc.message}"[:500]
    if isinstance(exc, oci.exceptions.RequestException):
        return f"OCI request failed: {type(exc).__name__}: {exc}"[:500]
    return f"{type(exc).__name__}: {exc}"[:500]


def short(ocid: str) -> str:
    return ocid if len(ocid) <= 24 else f"{ocid[:14]}…{ocid[-6:]}"
