"""The HTTP error-rate collector against a real Prometheus (Debian's), whose
storage was backfilled with promtool: 40 minutes of ingress-nginx request
counters, scraped the way a Prometheus without honorLabels stores them
(``exported_namespace``), ending at ``END``; the collector's clock says
``END``, so the shipped default query reads exactly those samples."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fixtures.incidents import make_incident
from fixtures.processes import free_port
from fixtures.prometheus import Prometheus, backfill, start_prometheus

from responder.app import build_backends
from responder.evidence.error_rates import ErrorRateCollector
from responder.evidence.prometheus_api import PrometheusApi
from responder.prometheus_settings import PrometheusSettings
from responder.records.incident import Incident, ResourceScope
from responder.settings import Settings

END = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SPAN = timedelta(minutes=40)
STEP_SECONDS = 15
REQUESTS_PER_SECOND = 10.0

#: ingress -> its 5xx rate (per second) at a fraction (0 to 1) of the span
ERRORS: dict[str, Callable[[float], float]] = {
    "checkout": lambda f: min(2.0, 0.1 + 2.5 * f),  # 1% rising to 20%, held for 10 min
    "catalog": lambda f: 1.0,  # a steady 10%
    "search": lambda f: 2.0 - 1.9 * f,  # 20% falling back to 1%
    "home": lambda f: 0.0,  # no errors
}


def openmetrics() -> str:
    lines = ["# TYPE nginx_ingress_controller_requests unknown"]
    start = END - SPAN
    steps = int(SPAN.total_seconds()) // STEP_SECONDS
    for ingress, errors in ERRORS.items():
        labels = f'namespace="ingress-nginx",exported_namespace="shop",ingress="{ingress}"'
        ok = failed = 0.0
        for step in range(steps + 1):
            fraction = step / steps
            failed += errors(fraction) * STEP_SECONDS
            ok += (REQUESTS_PER_SECOND - errors(fraction)) * STEP_SECONDS
            at = (start + timedelta(seconds=step * STEP_SECONDS)).timestamp()
            lines.append(f'nginx_ingress_controller_requests{{{labels},status="200"}} {ok} {at}')
            lines.append(
                f'nginx_ingress_controller_requests{{{labels},status="503"}} {failed} {at}'
            )
    return "\n".join([*lines, "# EOF", ""])


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    tmp = tmp_path_factory.mktemp("prometheus-error-rates")
    backfill(tmp / "tsdb", openmetrics())
    server = start_prometheus(tmp, {}, [])
    try:
        yield server
    finally:
        server.stop()


def collector(url: str, **settings: object) -> ErrorRateCollector:
    prometheus = PrometheusSettings.model_validate({"url": url, **settings})
    api = PrometheusApi(prometheus.url, prometheus.timeout_seconds)
    return ErrorRateCollector(api=api, settings=prometheus, clock=lambda: END)


def spike(ingress: str, namespace: str | None = "shop") -> Incident:
    return make_incident(
        incident_type="http_error_rate_spike",
        key=f"http_error_rate_spike|{ingress}",
        resource_scope=ResourceScope(kind="ingress", namespace=namespace, name=ingress),
    )


def test_a_ratio_that_rose_across_the_window_is_rising(prometheus: Prometheus) -> None:
    evidence = collector(prometheus.url).collect(spike("checkout"))
    assert evidence.facts == {"rising": True}
    signals = {s.name: s for s in evidence.signals}
    assert set(signals) == {"http_error_ratio_high", "http_errors_rising"}
    assert signals["http_error_ratio_high"].strength == "strong"
    assert signals["http_error_ratio_high"].detail == (
        "20.0% of the answers of ingress shop/checkout are 5xx (threshold 5.0%)"
    )
    assert signals["http_errors_rising"].strength == "weak"
    assert signals["http_errors_rising"].detail.startswith(
        "the 5xx ratio of ingress shop/checkout rose from "
    )
    assert "over the last 30 min" in signals["http_errors_rising"].detail
    assert evidence.exit_criteria_met is False
    assert evidence.summary.startswith("5xx ratio 20.0% now (threshold 5.0%); over 30 min ")
    assert evidence.summary.endswith(", rising")


def test_a_steady_ratio_above_the_threshold_is_high_but_not_rising(
    prometheus: Prometheus,
) -> None:
    evidence = collector(prometheus.url).collect(spike("catalog"))
    assert evidence.facts == {"rising": False}
    assert [s.name for s in evidence.signals] == ["http_error_ratio_high"]
    assert "10.0% of the answers" in evidence.signals[0].detail
    assert evidence.summary.endswith("10.0% → 10.0%, not rising")
    assert evidence.exit_criteria_met is False


def test_a_ratio_falling_back_is_not_rising(prometheus: Prometheus) -> None:
    evidence = collector(prometheus.url).collect(spike("search"))
    assert evidence.facts == {"rising": False}
    assert [s.name for s in evidence.signals] == []
    assert evidence.exit_criteria_met is True


def test_no_errors_meet_the_exit_criteria(prometheus: Prometheus) -> None:
    evidence = collector(prometheus.url).collect(spike("home"))
    assert (evidence.signals, evidence.facts, evidence.exit_criteria_met) == (
        (),
        {"rising": False},
        True,
    )
    assert evidence.summary.startswith("5xx ratio 0.0% now")


def test_the_margin_decides_what_counts_as_rising(prometheus: Prometheus) -> None:
    evidence = collector(prometheus.url, rising_margin=0.5).collect(spike("checkout"))
    assert evidence.facts == {"rising": False}


def test_a_cluster_scope_reads_the_worst_series(prometheus: Prometheus) -> None:
    incident = make_incident(
        incident_type="http_error_rate_spike",
        key="http_error_rate_spike|cluster",
        resource_scope=ResourceScope(kind="cluster", name="cluster"),
    )
    evidence = collector(prometheus.url).collect(incident)
    assert "20.0% of the answers of cluster cluster" in evidence.signals[0].detail


def test_a_scope_no_series_names_tells_so_and_cannot_judge(prometheus: Prometheus) -> None:
    evidence = collector(prometheus.url).collect(spike("checkout", namespace="other"))
    assert evidence.signals == ()
    assert evidence.exit_criteria_met is None
    assert evidence.facts == {"rising": False}
    assert evidence.summary == (
        "no error-ratio series of ingress other/checkout (query: error_ratio_query)"
    )


def test_a_promql_error_is_a_weak_collector_error(prometheus: Prometheus) -> None:
    evidence = collector(prometheus.url, error_ratio_query="sum(").collect(spike("checkout"))
    [signal] = evidence.signals
    assert (signal.name, signal.strength) == ("collector_error", "weak")
    assert "/api/v1/query: answered 400" in signal.detail
    assert "parse error" in signal.detail
    assert evidence.facts == {}


def test_an_unreachable_prometheus_is_a_weak_collector_error() -> None:
    url = f"http://robot:s3cret@127.0.0.1:{free_port()}"
    evidence = collector(url, timeout_seconds=2).collect(spike("checkout"))
    [signal] = evidence.signals
    assert signal.name == "collector_error"
    assert signal.detail.startswith(f"http://robot@127.0.0.1:{url.rsplit(':', 1)[1]}/api/v1/query")
    assert "s3cret" not in signal.detail + evidence.summary


def test_the_graph_link_and_the_settings_hide_the_password(prometheus: Prometheus) -> None:
    # Prometheus asks for no credentials and ignores these
    address = prometheus.url.removeprefix("http://")
    url = f"http://robot:s3cret@{address}"
    evidence = collector(url).collect(spike("checkout"))
    assert evidence.facts == {"rising": True}
    [link] = evidence.refs
    assert link.startswith(f"http://robot@{address}/graph?g0.expr=sum%20by%20%28namespace")
    assert link.endswith("&g0.range_input=30m")
    assert "s3cret" not in repr(evidence)
    shown = Settings(prometheus=PrometheusSettings(url=url)).redacted()
    assert shown["prometheus"]["url"] == f"http://robot@{address}"


def test_the_collector_is_there_when_prometheus_is_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROMETHEUS_TOKEN", "t0ken")
    section = PrometheusSettings(url="http://prometheus:9090", bearer_token_env="PROMETHEUS_TOKEN")
    _, collectors = build_backends(Settings(prometheus=section))
    [found] = [c for c in collectors if isinstance(c, ErrorRateCollector)]
    assert found.incident_types == {"http_error_rate_spike"}
    assert found.api.bearer_token == "t0ken"
    _, without = build_backends(Settings())
    assert not any(isinstance(c, ErrorRateCollector) for c in without)


def test_a_token_variable_that_is_not_set_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_TOKEN", raising=False)
    section = PrometheusSettings(url="http://prometheus:9090", bearer_token_env="PROMETHEUS_TOKEN")
    with pytest.raises(RuntimeError, match="bearer_token_env names PROMETHEUS_TOKEN"):
        build_backends(Settings(prometheus=section))
