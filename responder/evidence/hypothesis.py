"""The cause an incident's evidence points to, in words: what an approval's
"why now" names ("the image reference is wrong: manifest unknown ...").

Read from the signals the collectors left on the incident, so that it
follows the evidence as it changes. Types whose actions the evidence ranks:
``registry_pull_failure`` (the pull error decides between the image patch,
the pull secret patch and neither; see ``pull_targets``). The others name
their cause, and their actions are not ranked by it yet."""

from __future__ import annotations

from responder.evidence.pull_targets import CREDENTIALS, IMAGE_REF, RATE_LIMIT
from responder.records.incident import Incident, Signal

DETAIL_LIMIT = 160

#: incident type → (signal name, or ``:failure`` ending a probe's signal
#: name, and the cause it points to), in the order they are named
CAUSES: dict[str, tuple[tuple[str, str], ...]] = {
    "registry_pull_failure": (
        ("image_manifest_unknown", IMAGE_REF),
        ("registry_unauthorized", CREDENTIALS),
        ("registry_forbidden", CREDENTIALS),
        ("registry_rate_limited", RATE_LIMIT),
    ),
    "runtime_dependency_outage": (
        (":auth_error", "the dependency refuses the credentials it is given"),
        (":connection_refused", "the dependency is down: nothing listens"),
        (":timeout", "the dependency is down or unreachable: no answer"),
        (":connection_failed", "the dependency is unreachable"),
        (":unhealthy", "the dependency answers but reports itself unhealthy"),
        (":error_reply", "the dependency answers with an error"),
        (":tls_error", "the dependency's TLS setup does not match its clients'"),
    ),
    "identity_provider_unreachable": (
        (":auth_error", "the identity provider refuses the bind credentials (LDAP settings)"),
        (":connection_refused", "the identity provider is down: nothing listens"),
        (":timeout", "the identity provider is down or unreachable: no answer"),
        (":connection_failed", "the identity provider is unreachable"),
        (":tls_error", "the identity provider's TLS setup does not match"),
    ),
    "database_connectivity_degraded": (
        (":database_missing", "the configured database is gone (a stale DB target)"),
        (":auth_error", "the database refuses the credentials it is given"),
        (":connections_exhausted", "the database's connection limit is reached"),
        (":saturated", "the database's connections are nearly all in use"),
        (":unavailable", "the database is starting, stopping or in recovery"),
        (":connection_refused", "the database is down: nothing listens"),
        (":timeout", "the database is down or unreachable: no answer"),
        (":connection_failed", "the database is unreachable"),
    ),
    "release_drift_or_partial_apply": (
        ("helm_release_failed", "a failed helm upgrade"),
        ("helm_release_pending", "an interrupted helm upgrade"),
        ("image_drift", "live images drifted from the release"),
        ("missing_image_pull_secrets", "pull secrets the release declares are missing"),
        ("release_resource_missing", "objects of the release are missing"),
    ),
    "node_disk_pressure": (
        ("free_disk_space_failed", "image garbage collection cannot free enough space"),
        ("completed_pod_backlog", "finished pods pile up on the node"),
        ("repeated_image_pulls", "image churn"),
    ),
    "background_job_buildup": (
        ("noisy_cronjob", "noisy CronJobs keep starting Jobs"),
        ("tekton_history_growth", "Tekton TaskRun history grows"),
        ("completed_pod_backlog", "finished pods are not cleaned up"),
    ),
    "node_unreachable_or_notready": (
        ("node_unreachable_taint", "the node stopped reporting (kubelet down or network)"),
        ("node_not_ready", "the kubelet reports the node not ready"),
    ),
}


def hypothesis(incident: Incident) -> str | None:
    """The causes the incident's signals point to, most telling first, each
    with the evidence that says so; None when they point to none."""
    named: list[str] = []
    for key, cause in CAUSES.get(incident.incident_type, ()):
        found = [s for s in incident.signals if _names(s, key)]
        if found and not any(n.startswith(cause) for n in named):  # one cause, named once
            named.append(f"{cause} ({_evidence(found[0])})")
    return "; ".join(named) or None


def _names(signal: Signal, key: str) -> bool:
    return signal.name.endswith(key) if key.startswith(":") else signal.name == key


def _evidence(signal: Signal) -> str:
    detail = (
        signal.detail if len(signal.detail) <= DETAIL_LIMIT else signal.detail[:DETAIL_LIMIT] + "…"
    )
    return f"{signal.name}: {detail}" if detail else signal.name
