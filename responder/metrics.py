"""The ``ops_*`` metrics of spec section 15, plus the responder's own.

Counters count what this process did. Open incidents are read from the
store at scrape time, so the gauge is right across restarts and replicas.
Each ``Metrics`` has its own registry (several apps can live in one test
process).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from responder.store import Store, StoreUnavailable

log = logging.getLogger(__name__)

INCIDENT = ("incident_type", "severity", "environment")
ACTION = ("incident_type", "action", "environment")


def _open_families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
    """Open incidents in total and by type, still without samples."""
    return GaugeMetricFamily(
        "ops_incidents_open_total", "Incidents not yet resolved.", labels=list(INCIDENT)
    ), GaugeMetricFamily(
        "ops_incidents_by_type",
        "Open incidents per incident type and domain.",
        labels=["incident_type", "domain", "environment"],
    )


class _OpenIncidents(Collector):
    def __init__(self, store: Callable[[], Store], domain_of: Callable[[str], str]) -> None:
        self._store = store
        self._domain_of = domain_of

    def describe(self) -> Iterator[Metric]:
        """The families without samples: a scrape that names other metrics reads no store."""
        yield from _open_families()

    def collect(self) -> Iterator[Metric]:
        open_total, by_type = _open_families()
        try:
            counts = self._store().count_open_incidents()
        except StoreUnavailable as exc:
            log.warning("metrics: store unavailable: %s", exc)
            counts = {}
        per_type: dict[tuple[str, str], int] = {}
        for (incident_type, severity, environment), count in sorted(counts.items()):
            open_total.add_metric([incident_type, severity, environment], count)
            key = (incident_type, environment)
            per_type[key] = per_type.get(key, 0) + count
        for (incident_type, environment), count in sorted(per_type.items()):
            by_type.add_metric([incident_type, self._domain_of(incident_type), environment], count)
        yield open_total
        yield by_type


class Metrics:
    def __init__(self, store: Callable[[], Store], domain_of: Callable[[str], str]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry

        def counter(name: str, documentation: str, labels: Sequence[str]) -> Counter:
            return Counter(name, documentation, labels, registry=r)

        self.incidents_resolved = counter("ops_incidents_resolved", "Incidents resolved.", INCIDENT)
        self.auto_remediations = counter(
            "ops_auto_remediations", "Automatic remediation actions run.", ACTION
        )
        self.auto_remediations_failed = counter(
            "ops_auto_remediations_failed", "Automatic remediation actions that failed.", ACTION
        )
        self.shadow_decisions = counter(
            "ops_shadow_decisions",
            "Decisions recorded but not executed under the shadow automation mode, "
            "by the decision the robot would have acted on.",
            (*ACTION, "decision"),
        )
        self.false_positives = counter(
            "ops_false_positives",
            "Verdicts of false positive a person marked on an incident, by kind "
            "(classification: the incident type was wrong; action: the recommended action was).",
            ("incident_type", "environment", "kind"),
        )
        self.approvals_requested = counter(
            "ops_approvals_requested", "Approval requests sent.", ACTION
        )
        self.approvals_granted = counter(
            "ops_approvals_granted", "Approval requests granted.", ACTION
        )
        self.approvals_denied = counter("ops_approvals_denied", "Approval requests denied.", ACTION)
        self.policy_suppressions = counter(
            "ops_policy_suppressions",
            "Notifications or actions suppressed by dedupe windows, cooldowns or policy.",
            ("incident_type", "environment", "reason"),
        )
        self.guard_refusals = counter(
            "ops_guard_refusals",
            "Actions the runner refused at run time by guard (action_cap: a cap on pods "
            "deleted or workloads scaled per window).",
            ("incident_type", "environment", "guard"),
        )
        self.chat_delivery_failures = counter(
            "ops_chat_delivery_failures", "Failed deliveries to operator channels.", ("channel",)
        )
        self.alerts_received = counter(
            "ops_webhook_alerts_received", "Alerts accepted by the webhook.", ("status",)
        )
        self.webhook_rejections = counter(
            "ops_webhook_rejections", "Webhook requests refused.", ("code",)
        )
        self.webhook_duration = Histogram(
            "ops_webhook_duration_seconds",
            "Time to validate and durably queue a webhook.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=r,
        )
        self.queue_depth = Gauge(
            "ops_queue_depth", "Accepted webhook payloads not yet processed.", registry=r
        )
        self.alerts_processed = counter(
            "ops_alerts_processed", "Alerts processed by the worker, by outcome.", ("outcome",)
        )
        self.notifications = counter(
            "ops_notifications",
            "Operator notifications sent.",
            ("incident_type", "channel", "environment"),
        )
        self.chat_messages = counter(
            "ops_chat_messages",
            "Messages posted to chat channels, by kind (incident, approval, digest).",
            ("channel", "kind"),
        )
        self.chat_delivery_retries = counter(
            "ops_chat_delivery_retries",
            "Chat deliveries tried again after a retryable failure.",
            ("channel",),
        )
        self.chat_digested = counter(
            "ops_chat_digested",
            "Chat messages held back by storm control and sent as a digest.",
            ("channel",),
        )
        self.approval_answers = counter(
            "ops_approval_answers",
            "Answers to approval requests, by surface and result.",
            ("via", "result"),
        )
        r.register(_OpenIncidents(store, domain_of))

    def render(self, names: Sequence[str] = ()) -> bytes:
        """The exposition of every metric, or of those named (family or sample names)."""
        if names:
            return generate_latest(self.registry.restricted_registry(names))
        return generate_latest(self.registry)
