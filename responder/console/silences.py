"""``silence`` and ``unsilence``: Alertmanager silences (API v2) of an
incident's alerts, one per alert name, matching the labels every alert of
that name shares; the silence ids are kept on the incident."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from responder.console.context import Asked, CommandError, duration
from responder.console.markup import Bold, Code, Page
from responder.console.reply import Reply
from responder.records.incident import AlertRef, Incident, SilenceRef

TIMEOUT_SECONDS = 5.0
MAX_SILENCE_DAYS = 7


@dataclass(eq=False)
class SilenceClient:
    """Alertmanager's silences API at ``url``. Silences are dated by the
    wall clock, as Alertmanager dates them."""

    url: str
    wall: Callable[[], datetime] = lambda: datetime.now(UTC)

    def create(self, matchers: dict[str, str], ends_at: datetime, by: str, comment: str) -> str:
        body = {
            "matchers": [
                {"name": name, "value": value, "isRegex": False, "isEqual": True}
                for name, value in sorted(matchers.items())
            ],
            "startsAt": _iso(self.wall()),
            "endsAt": _iso(ends_at),
            "createdBy": by,
            "comment": comment,
        }
        answer = self._call("POST", "/api/v2/silences", body)
        return str(answer.json()["silenceID"])

    def expire(self, silence_id: str) -> bool:
        """Expire the silence; False when Alertmanager does not know it."""
        answer = self._call("DELETE", f"/api/v2/silence/{silence_id}", None, missing_ok=True)
        return answer.status_code != 404

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None, missing_ok: bool = False
    ) -> httpx.Response:
        try:
            with httpx.Client(timeout=TIMEOUT_SECONDS) as client:
                answer = client.request(method, self.url.rstrip("/") + path, json=body)
        except httpx.HTTPError as exc:
            raise CommandError(f"Alertmanager did not answer: {exc}") from None
        if answer.is_error and not (missing_ok and answer.status_code == 404):
            raise CommandError(
                f"Alertmanager refused ({answer.status_code}): {answer.text.strip()[:200]}"
            )
        return answer


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def matchers_of(alerts: Iterable[AlertRef]) -> dict[str, dict[str, str]]:
    """By alert name: the labels (with non-empty values) every alert of that
    name carries with the same value."""
    shared: dict[str, dict[str, str]] = {}
    for alert in alerts:
        labels = {k: v for k, v in alert.labels.items() if v}
        labels["alertname"] = alert.alertname
        known = shared.get(alert.alertname)
        shared[alert.alertname] = (
            labels if known is None else {k: v for k, v in known.items() if labels.get(k) == v}
        )
    return shared


def _client(asked: Asked) -> SilenceClient:
    url = asked.runtime.settings.alertmanager_url
    if not url:
        raise CommandError("Silences need Alertmanager: set alertmanager_url.")
    return SilenceClient(url)


def silence(asked: Asked) -> Reply:
    found = asked.incident(asked.arg(0, "silence ID DURATION"))
    length = duration(asked.arg(1, "silence ID DURATION"))
    if length.days > MAX_SILENCE_DAYS:
        raise CommandError(f"A silence from the chat lasts at most {MAX_SILENCE_DAYS} days.")
    groups = matchers_of(found.alerts.values())
    if not groups:
        raise CommandError(f"Incident {found.id} has no alerts to silence.")
    client = _client(asked)
    ends_at = client.wall() + length
    comment = (
        f"Robot SRE incident {found.id} ({found.display_name}), silenced from {asked.user.platform}"
    )
    ids = tuple(
        client.create(matchers, ends_at, asked.who, comment) for matchers in groups.values()
    )
    made = SilenceRef(ids=ids, by=asked.who, at=asked.now, ends_at=ends_at)

    def keep(incident: Incident) -> None:
        incident.silence = made
        incident.record("silenced", f"by {asked.who} until {ends_at:%H:%M} UTC", asked.now)

    asked.change(found, keep)
    asked.audit(
        "incident.silence",
        found.id,
        f"silence of incident {found.id} by {asked.who}",
        after={"ids": list(ids), "matchers": groups},
    )
    page = Page().line(
        Bold("Silenced"),
        " the alerts of incident ",
        Code(found.id),
        f" until {ends_at:%Y-%m-%d %H:%M} UTC:",
    )
    for silence_id, matchers in zip(ids, groups.values(), strict=True):
        shown = ", ".join(f'{k}="{v}"' for k, v in sorted(matchers.items()))
        page.line("• ", Code(silence_id), f" {{{shown}}}")
    return page.reply()


def unsilence(asked: Asked) -> Reply:
    found = asked.incident(asked.arg(0, "unsilence ID"))
    if found.silence is None:
        raise CommandError(f"Incident {found.id} has no silence of ours.")
    client = _client(asked)
    for silence_id in found.silence.ids:
        client.expire(silence_id)
    before = found.silence

    def drop(incident: Incident) -> None:
        incident.silence = None
        incident.record("unsilenced", f"by {asked.who}", asked.now)

    asked.change(found, drop)
    asked.audit(
        "incident.unsilence",
        found.id,
        f"unsilence of incident {found.id} by {asked.who}",
        before={"ids": list(before.ids)},
    )
    return Page().line(Bold("Silence expired"), " for incident ", Code(found.id), ".").reply()
