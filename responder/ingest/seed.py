"""At start, what Alertmanager already has firing.

An alert that fired before the responder started would otherwise reach it only
at Alertmanager's next repeat. The firing alerts that match a blocking selector
are read at start and processed as if the webhook had delivered them, so the
guard rails hold from the first moment."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from responder.guards.rails import matches
from responder.pipeline.runner import Pipeline
from responder.records.alert import WebhookAlert, WebhookPayload

log = logging.getLogger(__name__)


def firing_blocking_alerts(
    alertmanager_url: str, selectors: Sequence[Mapping[str, str]], timeout: float = 5.0
) -> list[WebhookAlert]:
    """Alertmanager's active, unsilenced, uninhibited alerts that match a
    blocking selector; raises ``httpx.HTTPError`` when it cannot be read."""
    if not alertmanager_url or not selectors:
        return []
    answer = httpx.get(
        f"{alertmanager_url.rstrip('/')}/api/v2/alerts",
        params={"active": "true", "silenced": "false", "inhibited": "false"},
        timeout=timeout,
    )
    answer.raise_for_status()
    found: list[dict[str, Any]] = answer.json()
    alerts = []
    for raw in found:
        labels = {str(k): str(v) for k, v in dict(raw.get("labels", {})).items()}
        if not any(matches(s, labels) for s in selectors):
            continue
        alerts.append(
            WebhookAlert(
                status="firing",
                labels=labels,
                annotations={str(k): str(v) for k, v in dict(raw.get("annotations", {})).items()},
                startsAt=raw.get("startsAt"),
                generatorURL=str(raw.get("generatorURL", "")),
                fingerprint=str(raw.get("fingerprint", "")),
            )
        )
    return alerts


def seed_blocking_alerts(
    alertmanager_url: str, selectors: Sequence[Mapping[str, str]], pipeline: Pipeline
) -> int:
    """Process the firing blocking alerts; how many. Never raises: a
    responder starts without Alertmanager too (the webhook tells it later)."""
    try:
        alerts = firing_blocking_alerts(alertmanager_url, selectors)
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("could not read firing alerts from %s: %s", alertmanager_url, exc)
        return 0
    if alerts:
        pipeline.process(WebhookPayload(version="4", status="firing", alerts=alerts))
        log.info("blocking alerts firing at start: %s", ", ".join(a.alertname for a in alerts))
    return len(alerts)
