"""Evidence confidence bands (spec section 8).

High: two or more distinct strong signals, a direct error from the failing
component, or a signal repeated across checks. Medium: one strong plus a weak
one. Low: anything less. Re-sent alerts are not repeated checks: only
collectors that looked again count."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from responder.records.incident import Signal
from responder.records.levels import Confidence


@dataclass(frozen=True)
class Band:
    confidence: Confidence
    reason: str


def confidence_band(signals: Iterable[Signal]) -> Band:
    strong: dict[str, Signal] = {}
    weak: dict[str, Signal] = {}
    for signal in signals:
        (strong if signal.strength == "strong" else weak)[signal.name] = signal
        if signal.direct and signal.strength == "strong":
            return Band(Confidence.high, f"direct error from the failing component: {signal.name}")
        if signal.checks >= 2 and signal.strength == "strong":
            return Band(Confidence.high, f"{signal.name} repeated across {signal.checks} checks")
    if len(strong) >= 2:
        return Band(Confidence.high, "corroborating signals: " + ", ".join(sorted(strong)))
    if strong and weak:
        return Band(
            Confidence.medium,
            f"one strong signal ({next(iter(strong))}) plus weak: " + ", ".join(sorted(weak)),
        )
    if strong:
        return Band(Confidence.low, f"single signal {next(iter(strong))}, no corroboration")
    if weak:
        return Band(Confidence.low, "only weak signals: " + ", ".join(sorted(weak)))
    return Band(Confidence.low, "no signals")
