"""HTTP error-rate evidence for ``http_error_rate_spike`` from Prometheus:
the share of 5xx answers of the incident's scope now, and its trend. It is
rising when the mean of the window's last third exceeds its first third's by
more than ``rising_margin`` (a spike still growing, not one falling back);
several matching series (routes of one service) are read as their worst."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from statistics import fmean
from typing import Literal
from urllib.parse import quote

from responder.evidence.collector import Evidence
from responder.evidence.prometheus_api import PrometheusApi, PrometheusError, Series
from responder.prometheus_settings import PrometheusSettings
from responder.records.incident import Incident, ResourceScope, Signal
from responder.store.urls import redact_url

HTTP_TYPE = "http_error_rate_spike"
MIN_TREND_SAMPLES = 3


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Trend:
    """The ratio's mean over the first and the last third of the window."""

    first: float
    last: float
    samples: int

    def rising(self, margin: float) -> bool:
        return self.samples >= MIN_TREND_SAMPLES and self.last - self.first > margin


def trend_of(series: Sequence[Series]) -> Trend:
    """The trend of the worst of ``series`` at each moment."""
    worst: dict[float, float] = {}
    for one in series:
        for at, value in one.samples:
            worst[at] = max(value, worst.get(at, value))
    values = [worst[at] for at in sorted(worst)]
    if not values:
        return Trend(0.0, 0.0, 0)
    third = max(1, len(values) // 3)
    return Trend(fmean(values[:third]), fmean(values[-third:]), len(values))


def names_scope(
    labels: Mapping[str, str], scope: ResourceScope, scope_labels: Sequence[str]
) -> bool:
    """Whether a series with ``labels`` is about ``scope``: a scope label
    holds the scope's name, and the namespaces agree where both are known
    (every series is about a cluster scope)."""
    namespace = labels.get("namespace")
    if scope.namespace and namespace and namespace != scope.namespace:
        return False
    if scope.kind == "cluster":
        return True
    return any(labels.get(label) == scope.name for label in scope_labels)


@dataclass(eq=False, kw_only=True)
class ErrorRateCollector:
    """Reads ``settings.error_ratio_query`` from Prometheus for the incident's
    scope: a strong signal when the ratio is at or above the threshold, a weak
    one and the fact ``rising`` when it rose across the window. Exit criteria
    hold when the ratio is below the threshold."""

    name = "prometheus.error_rate"
    incident_types = frozenset({HTTP_TYPE})

    api: PrometheusApi
    settings: PrometheusSettings
    clock: Callable[[], datetime] = field(default=utcnow)

    def collect(self, incident: Incident) -> Evidence:
        try:
            return self._collect(incident)
        except PrometheusError as exc:
            detail = str(exc)
            return Evidence(
                signals=(
                    Signal(
                        name="collector_error", strength="weak", source=self.name, detail=detail
                    ),
                ),
                summary=f"could not read Prometheus: {detail[:200]}",
            )

    def _collect(self, incident: Incident) -> Evidence:
        settings = self.settings
        scope = incident.resource_scope
        what = f"{scope.kind} {scope.namespace + '/' if scope.namespace else ''}{scope.name}"
        now = self.clock()
        query = settings.error_ratio_query
        current = [s for s in self.api.instant(query, now) if self._about(s, scope)]
        ratios = [s.samples[-1][1] for s in current if s.samples]
        refs = (self._graph_link(),)
        if not ratios:
            return Evidence(
                facts={"rising": False},
                refs=refs,
                summary=f"no error-ratio series of {what} (query: error_ratio_query)",
            )
        ratio = max(ratios)
        window = timedelta(seconds=settings.trend_window_seconds)
        history = self.api.range(query, now - window, now, settings.trend_step_seconds)
        trend = trend_of([s for s in history if self._about(s, scope)])
        rising = trend.rising(settings.rising_margin)
        minutes = settings.trend_window_seconds // 60
        signals = []
        if ratio >= settings.error_ratio_threshold:
            signals.append(
                self._signal(
                    "http_error_ratio_high",
                    "strong",
                    f"{_percent(ratio)} of the answers of {what} are 5xx "
                    f"(threshold {_percent(settings.error_ratio_threshold)})",
                )
            )
        if rising:
            signals.append(
                self._signal(
                    "http_errors_rising",
                    "weak",
                    f"the 5xx ratio of {what} rose from {_percent(trend.first)} to "
                    f"{_percent(trend.last)} over the last {minutes} min",
                )
            )
        summary = (
            f"5xx ratio {_percent(ratio)} now (threshold "
            f"{_percent(settings.error_ratio_threshold)}); over {minutes} min "
            f"{_percent(trend.first)} → {_percent(trend.last)}, "
            + ("rising" if rising else "not rising")
        )
        return Evidence(
            signals=tuple(signals),
            facts={"rising": rising},
            refs=refs,
            summary=summary,
            exit_criteria_met=ratio < settings.error_ratio_threshold,
        )

    def _about(self, series: Series, scope: ResourceScope) -> bool:
        return names_scope(series.labels, scope, self.settings.scope_labels)

    def _signal(self, name: str, strength: Literal["strong", "weak"], detail: str) -> Signal:
        return Signal(name=name, strength=strength, source=self.name, detail=detail)

    def _graph_link(self) -> str:
        """Prometheus's graph of the query over the trend window."""
        minutes = self.settings.trend_window_seconds // 60
        base = redact_url(self.api.url.rstrip("/"))
        expr = quote(self.settings.error_ratio_query)
        return f"{base}/graph?g0.expr={expr}&g0.range_input={minutes}m"


def _percent(ratio: float) -> str:
    return f"{ratio * 100:.1f}%"
