"""Finding the cluster the standard way, and the request policy of ``Kube``."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.kube import (
    KubeCluster,
    kube_cluster_fixture,  # noqa: F401  (fixtures, registered here)
    kube_fixture,  # noqa: F401
    node,
)
from fixtures.processes import free_port

from responder.kube import Kube, KubeConfigError, KubeError, RequestTimeout, load_api_client
from responder.settings import Settings


@pytest.fixture
def no_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)


@pytest.mark.usefixtures("no_cluster")
def test_no_cluster_configured_means_no_client_and_dry_run() -> None:
    settings = Settings()

    assert load_api_client(settings.kubeconfig) is None
    assert settings.effective_dry_run is True


@pytest.mark.usefixtures("no_cluster")
def test_the_kubeconfig_setting_is_used(kube_cluster: KubeCluster) -> None:
    api_client = load_api_client(str(kube_cluster.kubeconfig))

    assert api_client is not None
    assert api_client.configuration.host == kube_cluster.url
    assert api_client.configuration.retries is False


@pytest.mark.usefixtures("no_cluster")
def test_home_kubeconfig_is_used_when_nothing_is_set(
    kube_cluster: KubeCluster, tmp_path: Path
) -> None:
    (tmp_path / ".kube").mkdir()
    (tmp_path / ".kube" / "config").write_text(kube_cluster.kubeconfig.read_text())

    api_client = load_api_client(None)

    assert api_client is not None
    assert api_client.configuration.host == kube_cluster.url


@pytest.mark.usefixtures("no_cluster")
def test_a_broken_kubeconfig_is_an_error_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "kubeconfig"

    with pytest.raises(KubeConfigError, match=str(missing)):
        load_api_client(str(missing))


@pytest.mark.usefixtures("no_cluster")
def test_in_cluster_without_a_service_account_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(free_port()))

    with pytest.raises(KubeConfigError, match="service account"):
        load_api_client(None)


def test_lists_follow_continue_pages(kube_cluster: KubeCluster, kube: Kube) -> None:
    kube_cluster.add(*(node(f"worker-{i}") for i in range(7)))
    kube_cluster.page_lists(3)

    nodes = kube.items("list nodes", kube.core.list_node)

    assert len(nodes) == 7
    lists = [r for r in kube_cluster.requests() if r.path == "/api/v1/nodes"]
    assert [r.params.get("continue") for r in lists] == [None, "3", "6"]


def test_every_request_carries_the_timeout_and_an_unanswered_one_says_so(
    kube_cluster: KubeCluster,
) -> None:
    kube = kube_cluster.kube(RequestTimeout(connect=1.0, read=0.3))
    kube_cluster.hang("nodes")

    with pytest.raises(KubeError) as failure:
        kube.call("list nodes", kube.core.list_node)

    assert failure.value.status == 0
    assert str(failure.value) == "list nodes: no answer within 0.3s (timeout)"


def test_refused_connection_is_a_kube_error(kube_cluster: KubeCluster, tmp_path: Path) -> None:
    config = tmp_path / "refused"
    port = free_port()
    config.write_text(
        kube_cluster.kubeconfig.read_text().replace(str(kube_cluster.port), str(port))
    )
    api_client = load_api_client(str(config))
    assert api_client is not None

    with pytest.raises(KubeError, match="cannot connect"):
        Kube(api_client).call("list nodes", Kube(api_client).core.list_node)


def test_api_errors_carry_the_status_and_the_api_message(
    kube_cluster: KubeCluster, kube: Kube
) -> None:
    with pytest.raises(KubeError) as failure:
        kube.call("get node ghost", kube.core.read_node, "ghost")

    assert failure.value.not_found
    assert str(failure.value).startswith("get node ghost: 404")
