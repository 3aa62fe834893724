"""Reading PromQL answers from Prometheus's HTTP API (``/api/v1/query`` and
``/api/v1/query_range``) as labelled series of floats.

Every failure (no answer, an HTTP error, a PromQL error, an answer of an
unexpected shape) is one ``PrometheusError`` saying what was asked and why
it failed. NaN and infinite samples (a ratio of no traffic) are dropped."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from responder.store.urls import redact_url


class PrometheusError(Exception):
    pass


@dataclass(frozen=True)
class Series:
    """One series of an answer: its labels and its (epoch seconds, value)
    samples, oldest first (one sample for an instant query)."""

    labels: Mapping[str, str]
    samples: tuple[tuple[float, float], ...]


@dataclass(eq=False)
class PrometheusApi:
    url: str
    timeout_seconds: float = 5.0
    bearer_token: str | None = None

    def instant(self, query: str, at: datetime) -> list[Series]:
        """The value of each series of ``query`` at ``at``."""
        data = self._get("/api/v1/query", {"query": query, "time": f"{at.timestamp():.3f}"})
        if data.get("resultType") != "vector":
            raise PrometheusError(f"expected a vector, got {data.get('resultType')!r}")
        return [_series(item.get("metric"), [item.get("value")]) for item in _items(data)]

    def range(self, query: str, start: datetime, end: datetime, step_seconds: int) -> list[Series]:
        """The samples of each series of ``query`` from ``start`` to ``end``."""
        params = {
            "query": query,
            "start": f"{start.timestamp():.3f}",
            "end": f"{end.timestamp():.3f}",
            "step": str(step_seconds),
        }
        data = self._get("/api/v1/query_range", params)
        if data.get("resultType") != "matrix":
            raise PrometheusError(f"expected a matrix, got {data.get('resultType')!r}")
        return [_series(item.get("metric"), item.get("values") or []) for item in _items(data)]

    def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        where = redact_url(self.url.rstrip("/")) + path
        headers = {"Authorization": f"Bearer {self.bearer_token}"} if self.bearer_token else {}
        try:
            with httpx.Client(timeout=self.timeout_seconds, headers=headers) as client:
                answer = client.get(self.url.rstrip("/") + path, params=params)
        except httpx.TimeoutException:
            raise PrometheusError(f"{where}: no answer within {self.timeout_seconds:g}s") from None
        except httpx.HTTPError as exc:
            raise PrometheusError(f"{where}: {type(exc).__name__}: {exc}") from None
        try:
            body = answer.json()
        except ValueError:
            raise PrometheusError(f"{where}: answered {answer.status_code}, not JSON") from None
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error") if isinstance(body, dict) else None
            raise PrometheusError(f"{where}: answered {answer.status_code}: {error or body}")
        data = body.get("data")
        if not isinstance(data, dict):
            raise PrometheusError(f"{where}: an answer without data")
        return data


def _items(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    result = data.get("result")
    if not isinstance(result, list):
        raise PrometheusError("an answer without a result list")
    return [item for item in result if isinstance(item, Mapping)]


def _series(metric: Any, values: list[Any]) -> Series:
    labels = {str(k): str(v) for k, v in (metric or {}).items()}
    samples = []
    for pair in values:
        try:
            at, value = float(pair[0]), float(pair[1])
        except (TypeError, ValueError, IndexError):
            raise PrometheusError(f"an unreadable sample {pair!r}") from None
        if math.isfinite(value):
            samples.append((at, value))
    return Series(labels, tuple(samples))
