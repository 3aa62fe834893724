"""Alertmanager's webhook payload, version 4, as Alertmanager sends it.

Unknown fields are accepted and ignored (newer Alertmanagers add
``notification_reason`` and ``routeLabels``); known fields are validated so
that a broken sender gets a 4xx naming the field.
"""

from __future__ import annotations

from pydantic import ValidationError

from responder.records.alert import WebhookPayload


class PayloadError(ValueError):
    """A payload that will never be acceptable: answered with a 4xx."""

    def __init__(self, status: int, error: str, field: str | None = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.field = field

    def as_json(self) -> dict[str, str]:
        body = {"error": self.error}
        if self.field:
            body["field"] = self.field
        return body


def parse_payload(body: bytes) -> WebhookPayload:
    """Validate a webhook body; raise ``PayloadError`` (400/422) naming the
    problem and the field."""
    try:
        return WebhookPayload.model_validate_json(body)
    except ValidationError as exc:
        raise _payload_error(exc) from exc


def _payload_error(exc: ValidationError) -> PayloadError:
    first = exc.errors(include_url=False)[0]
    location = ".".join(str(part) for part in first["loc"])
    if first["type"] == "json_invalid":
        return PayloadError(400, f"malformed JSON: {first['msg']}")
    if first["type"] == "model_type" and not first["loc"]:
        return PayloadError(400, "the body must be a JSON object (Alertmanager webhook payload)")
    if location == "version":
        if first["type"] == "missing":
            return PayloadError(422, "missing field 'version': expected \"4\"", "version")
        return PayloadError(
            422,
            f"unsupported payload version {first.get('input')!r}: this responder speaks "
            'Alertmanager webhook version "4"',
            "version",
        )
    if first["type"] == "missing":
        return PayloadError(422, f"missing field {location!r}", location)
    return PayloadError(422, f"invalid field {location!r}: {first['msg']}", location)
