"""Where the HTTP error-rate collector asks Prometheus (its HTTP API) for the
share of failed answers of the incident's service, and how it reads them.

The default query is the ratio the shipped ``HTTPErrorRateHigh`` alert tests
(ingress-nginx's requests, 5xx over all, per namespace and ingress)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_ERROR_RATIO_QUERY = (
    "sum by (namespace, ingress) ("
    'label_replace(rate(nginx_ingress_controller_requests{status=~"5.."}[5m]), '
    '"namespace", "$1", "exported_namespace", "(.+)"))'
    " / sum by (namespace, ingress) ("
    "label_replace(rate(nginx_ingress_controller_requests[5m]), "
    '"namespace", "$1", "exported_namespace", "(.+)"))'
)


class PrometheusSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="Prometheus's base URL; /api/v1/query is appended")
    bearer_token_env: str | None = Field(
        default=None, description="the environment variable holding a bearer token, if needed"
    )
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    error_ratio_query: str = Field(
        default=DEFAULT_ERROR_RATIO_QUERY,
        description="PromQL giving the share of 5xx answers (0 to 1) per series; the series "
        "whose labels name the incident's scope are read",
    )
    scope_labels: tuple[str, ...] = Field(
        default=("ingress", "service", "deployment", "host"),
        description="labels whose value is compared with the name of the incident's scope "
        "(and ``namespace`` with its namespace)",
    )
    error_ratio_threshold: float = Field(
        default=0.05, gt=0, le=1, description="the ratio at or above which errors count as high"
    )
    trend_window_seconds: int = Field(
        default=1800, ge=300, le=86400, description="how far back the trend is read"
    )
    trend_step_seconds: int = Field(default=60, ge=1, le=3600)
    rising_margin: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="how much the ratio must gain across the window (0.01: one percentage "
        "point, last third against first third) to count as rising",
    )
