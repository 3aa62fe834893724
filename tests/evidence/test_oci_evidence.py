"""OCI instance state against the Kubernetes node, read through the real
``oci`` SDK from a local server speaking the compute API."""

from __future__ import annotations

from fixtures.http_stub import Answer
from fixtures.incidents import make_incident
from fixtures.oci_api import OciApi, instance_ocid, oci_api, oci_key  # noqa: F401  (fixtures)

from responder.evidence.oci_instances import OciInstanceCollector
from responder.oci_clients import ProviderIdInstances
from responder.records.incident import Incident

NODE = "10.0.10.202"


def _incident(node: str = NODE) -> Incident:
    key = f"node_unreachable_or_notready|node//{node}"
    return make_incident(node=node, incident_type="node_unreachable_or_notready", key=key)


def _collector(api: OciApi, ready: bool | None) -> OciInstanceCollector:
    instances = ProviderIdInstances(read_provider_id={NODE: f"oci://{instance_ocid(202)}"}.get)
    return OciInstanceCollector(api.clients().compute, instances, lambda node: ready)


def test_running_instance_behind_a_notready_node_is_a_strong_mismatch(
    oci_api: OciApi,  # noqa: F811
) -> None:
    evidence = _collector(oci_api, ready=False).collect(_incident())
    [signal] = evidence.signals
    assert (signal.name, signal.strength, signal.direct) == (
        "oci_instance_running_node_notready",
        "strong",
        False,
    )
    assert evidence.exit_criteria_met is False
    assert evidence.refs == (f"oci:instance/{instance_ocid(202)}",)


def test_stopped_instance_is_a_direct_signal_from_oci(oci_api: OciApi) -> None:  # noqa: F811
    oci_api.add_instance(instance_ocid(202), "oke-worker-202", state="STOPPED")
    evidence = _collector(oci_api, ready=False).collect(_incident())
    [signal] = evidence.signals
    assert (signal.name, signal.strength, signal.direct) == ("oci_instance_stopped", "strong", True)
    assert "STOPPED" in evidence.summary


def test_running_instance_and_ready_node_meet_the_exit_criteria(oci_api: OciApi) -> None:  # noqa: F811
    evidence = _collector(oci_api, ready=True).collect(_incident())
    assert evidence.signals == ()
    assert evidence.exit_criteria_met is True


def test_unknown_readiness_cannot_tell_the_exit_criteria(oci_api: OciApi) -> None:  # noqa: F811
    evidence = _collector(oci_api, ready=None).collect(_incident())
    assert evidence.signals == ()
    assert evidence.exit_criteria_met is None


def test_oci_error_is_a_weak_collector_error(oci_api: OciApi) -> None:  # noqa: F811
    oci_api.stub.fail("GET", r"/20160918/instances/.*", Answer(500, {"code": "InternalError"}))
    [signal] = _collector(oci_api, ready=False).collect(_incident()).signals
    assert (signal.name, signal.strength) == ("collector_error", "weak")
    assert "500" in signal.detail


def test_node_without_an_instance_gives_no_signal(oci_api: OciApi) -> None:  # noqa: F811
    evidence = _collector(oci_api, ready=False).collect(_incident(node="10.9.9.9"))
    assert evidence.signals == ()
    assert "no OCI instance known" in evidence.summary
    assert oci_api.stub.requests == []
