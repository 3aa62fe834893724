"""The links and forum topics of an operator message: the admin incident
page, the alert's source (its generator URL), a Grafana dashboard and the
runbook. Only http(s) links are shown: an annotation cannot smuggle a
``javascript:`` link into a chat."""

from __future__ import annotations

from urllib.parse import quote

from responder.channels.base import Link, Meta
from responder.chat_settings import ChannelSettings
from responder.records.approval import ApprovalRequest
from responder.records.incident import Incident

DASHBOARD_ANNOTATIONS = ("dashboard_url", "grafana_url")


def _web(url: str | None) -> str | None:
    url = (url or "").strip()
    return url if url.startswith(("https://", "http://")) else None


def topics(incident_type: str, environment: str) -> tuple[str, ...]:
    """The topic keys of a message, most specific first."""
    return (incident_type, environment)


def _page_and_runbook(
    settings: ChannelSettings, incident_id: str, incident_type: str, runbook: str | None
) -> tuple[Link | None, Link | None]:
    base = settings.public_url
    page = Link("Incident", f"{base}/admin/incidents/{quote(incident_id)}") if base else None
    if runbook is None and base:
        runbook = f"{base}/runbooks/{quote(incident_type)}.md"
    return page, Link("Runbook", runbook) if runbook else None


def incident_meta(incident: Incident, settings: ChannelSettings) -> Meta:
    """The incident message's bold title, links and topics."""
    alerts = [incident.alerts[key] for key in sorted(incident.alerts)]
    source = next((u for a in alerts if (u := _web(a.generator_url))), None)
    annotations = [a.annotations for a in alerts]
    dashboard = next(
        (u for found in annotations for n in DASHBOARD_ANNOTATIONS if (u := _web(found.get(n)))),
        _web(settings.dashboard_url),
    )
    runbook = next((u for found in annotations if (u := _web(found.get("runbook_url")))), None)
    page, book = _page_and_runbook(settings, incident.id, incident.incident_type, runbook)
    links = (
        page,
        Link("Alert source", source) if source else None,
        Link("Dashboard", dashboard) if dashboard else None,
        book,
    )
    return Meta(
        incident.display_name,
        tuple(link for link in links if link is not None),
        topics(incident.incident_type, str(incident.environment)),
    )


def approval_meta(approval: ApprovalRequest, settings: ChannelSettings) -> Meta:
    """An approval request's links (its incident's page, the runbook) and topics."""
    page, book = _page_and_runbook(settings, approval.incident_id, approval.incident_type, None)
    return Meta(
        links=tuple(link for link in (page, book) if link is not None),
        topics=topics(approval.incident_type, str(approval.environment)),
    )
