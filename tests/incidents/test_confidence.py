"""Evidence confidence bands of spec section 8 (evidence/confidence.py)."""

from __future__ import annotations

from typing import Literal

from responder.evidence.confidence import confidence_band
from responder.records.incident import Signal
from responder.records.levels import Confidence


def _signal(
    name: str,
    strength: Literal["strong", "weak"] = "strong",
    *,
    checks: int = 1,
    direct: bool = False,
) -> Signal:
    return Signal(name=name, strength=strength, source="test", checks=checks, direct=direct)


def test_no_signals_is_low() -> None:
    assert confidence_band([]).confidence == Confidence.low


def test_single_strong_signal_is_low() -> None:
    band = confidence_band([_signal("KubeNodePressure")])
    assert band.confidence == Confidence.low
    assert "KubeNodePressure" in band.reason


def test_only_weak_signals_are_low() -> None:
    band = confidence_band([_signal("a", "weak"), _signal("b", "weak")])
    assert band.confidence == Confidence.low


def test_one_strong_plus_one_weak_is_medium() -> None:
    band = confidence_band([_signal("KubeNodePressure"), _signal("ImagePullRetries", "weak")])
    assert band.confidence == Confidence.medium
    assert "ImagePullRetries" in band.reason


def test_two_distinct_strong_signals_are_high() -> None:
    band = confidence_band([_signal("KubeNodePressure"), _signal("NodeFilesystemAlmostOutOfSpace")])
    assert band.confidence == Confidence.high
    assert "corroborating" in band.reason


def test_repeated_deliveries_of_one_signal_do_not_raise_confidence() -> None:
    same = [_signal("KubeNodePressure") for _ in range(5)]
    assert confidence_band(same).confidence == Confidence.low


def test_strong_signal_seen_by_two_checks_is_high() -> None:
    band = confidence_band([_signal("disk_pressure_condition", checks=2)])
    assert band.confidence == Confidence.high
    assert "2 checks" in band.reason


def test_weak_signal_seen_by_many_checks_stays_low() -> None:
    assert confidence_band([_signal("restarts", "weak", checks=5)]).confidence == Confidence.low


def test_direct_strong_error_is_high() -> None:
    band = confidence_band([_signal("redis_connect_refused", direct=True)])
    assert band.confidence == Confidence.high
    assert "direct" in band.reason


def test_direct_weak_signal_is_not_high() -> None:
    band = confidence_band([_signal("log_line", "weak", direct=True)])
    assert band.confidence == Confidence.low
