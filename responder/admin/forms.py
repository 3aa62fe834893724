"""The rule edit form: a rule as form values and form values back into a
rule body for ``RuleBook.validate`` (the same checks as the API)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.datastructures import FormData

from responder.policy.rules import OperatorRule
from responder.records.levels import Confidence, Environment, Severity
from responder.records.window import DAYS

PROFILE_PREFIX = "profile."
#: the choices of the level fields, by the names the templates use
LEVEL_CHOICES: Mapping[str, list[str]] = {
    "environments": [str(e) for e in Environment],
    "severities": [str(s) for s in Severity],
    "confidences": [str(c) for c in Confidence],
}
_WINDOW = re.compile(
    r"^(?:(?P<days>[A-Za-z,]+)\s+)?(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})"
    r"(?:\s+(?P<tz>\S+))?$"
)


class FormProblem(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def rule_values(rule: OperatorRule) -> dict[str, Any]:
    """What the form shows for a saved rule."""
    values: dict[str, Any] = {
        "name": rule.name,
        "owner": rule.owner,
        "enabled": rule.enabled,
        "environment_scope": [str(e) for e in rule.environment_scope],
        "signal_selector": "\n".join(f"{k}={v}" for k, v in rule.signal_selector.items()),
        "threshold_expression": rule.threshold_expression,
        "severity": str(rule.severity) if rule.severity else "",
        "notify_channels": ", ".join(rule.notification_policy.channels),
        "notify_min_severity": str(rule.notification_policy.min_severity or ""),
        "cooldown_seconds": "" if rule.cooldown_seconds is None else str(rule.cooldown_seconds),
        "suppression_schedule": "\n".join(
            f"{','.join(w.days) if tuple(w.days) != DAYS else 'daily'} "
            f"{w.start.strftime('%H:%M')}-{w.end.strftime('%H:%M')} {w.timezone}"
            for w in rule.suppression_schedule
        ),
        "version": str(rule.version),
    }
    for action, decision in rule.allowed_action_profile.items():
        values[PROFILE_PREFIX + action] = decision
    return values


def form_values(form: FormData, actions: Sequence[str]) -> dict[str, Any]:
    """What the form shows after a submit (unsaved input kept as typed)."""

    def text(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    values: dict[str, Any] = {
        name: text(name)
        for name in (
            "name",
            "owner",
            "signal_selector",
            "threshold_expression",
            "severity",
            "notify_channels",
            "notify_min_severity",
            "cooldown_seconds",
            "suppression_schedule",
            "version",
        )
    }
    values["enabled"] = form.get("enabled") == "on"
    values["environment_scope"] = [
        e for e in form.getlist("environment_scope") if e in set(Environment)
    ]
    for action in actions:
        values[PROFILE_PREFIX + action] = text(PROFILE_PREFIX + action)
    return values


def _selector(text: str) -> dict[str, str]:
    selector: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        label, sep, pattern = line.partition("=")
        if not sep or not label.strip():
            raise FormProblem("signal_selector", f"line {number}: write LABEL=REGEX")
        selector[label.strip()] = pattern.strip()
    return selector


def _schedule(text: str) -> list[dict[str, Any]]:
    windows: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        found = _WINDOW.match(line.strip())
        if found is None:
            raise FormProblem(
                "suppression_schedule",
                f"line {number}: write [DAYS] HH:MM-HH:MM [TIMEZONE], "
                "e.g. mon,tue 22:00-06:00 Europe/Berlin",
            )
        window: dict[str, Any] = {"start": found["start"], "end": found["end"]}
        days = (found["days"] or "daily").lower()
        if days != "daily":
            window["days"] = [d.strip() for d in days.split(",") if d.strip()]
        if found["tz"]:
            window["timezone"] = found["tz"]
        windows.append(window)
    return windows


def rule_body(saved: OperatorRule, values: Mapping[str, Any]) -> dict[str, Any]:
    """The rule the form describes: the saved rule with the form's fields.

    Raises ``FormProblem`` for input the form itself cannot read; every
    other check is ``RuleBook.validate``'s."""
    body = saved.model_dump(mode="json", exclude={"version", "builtin"})
    body["name"] = values["name"] or saved.name
    body["owner"] = values["owner"] or saved.owner
    body["enabled"] = bool(values["enabled"])
    body["environment_scope"] = list(values["environment_scope"])
    body["signal_selector"] = _selector(values["signal_selector"])
    body["threshold_expression"] = values["threshold_expression"] or "true"
    body["severity"] = values["severity"] or None
    body["notification_policy"] = {
        "channels": [c.strip() for c in values["notify_channels"].split(",") if c.strip()],
        "min_severity": values["notify_min_severity"] or None,
    }
    cooldown = values["cooldown_seconds"]
    if cooldown and not cooldown.isdigit():
        raise FormProblem("cooldown_seconds", "a whole number of seconds, or empty")
    body["cooldown_seconds"] = int(cooldown) if cooldown else None
    body["suppression_schedule"] = _schedule(values["suppression_schedule"])
    body["allowed_action_profile"] = {
        key.removeprefix(PROFILE_PREFIX): value
        for key, value in values.items()
        if key.startswith(PROFILE_PREFIX) and value
    }
    return body


def form_field(api_field: str) -> str:
    """The form field a ``RuleRejected.field`` (API field path) belongs to."""
    head = re.split(r"[.\[]", api_field, maxsplit=1)[0]
    if head == "allowed_action_profile" and "." in api_field:
        return PROFILE_PREFIX + api_field.split(".", 1)[1]
    if head == "notification_policy":
        return "notify_min_severity" if "min_severity" in api_field else "notify_channels"
    known = {
        "name",
        "owner",
        "enabled",
        "environment_scope",
        "signal_selector",
        "threshold_expression",
        "severity",
        "cooldown_seconds",
        "suppression_schedule",
    }
    return head if head in known else "form"
