"""The guard-rail settings: defaults, environment overrides, errors naming the key."""

from __future__ import annotations

from datetime import time

import pytest

from responder.guards.rails import node_limit
from responder.settings import Settings, SettingsError, load_settings


def test_defaults_hold_nothing_back_but_the_blast_radius() -> None:
    settings = Settings()
    assert settings.pause_effect == "approval"
    assert settings.automation_refresh_seconds == 1.0
    assert settings.action_windows == []
    assert settings.blocking_alerts == []
    radius = settings.blast_radius
    assert (radius.max_unhealthy_nodes, radius.max_unhealthy_percent) == (1, 34.0)


def test_guard_rails_are_set_from_the_environment() -> None:
    settings = load_settings(
        {
            "ROBOT_SRE_PAUSE_EFFECT": "shadow",
            "ROBOT_SRE_BLAST_RADIUS": '{"cluster_nodes": 9, "storm_cooldown_seconds": 60}',
            "ROBOT_SRE_ACTION_WINDOWS": '[{"days": [tue], "start": "09:00", "end": "16:00"}]',
            "ROBOT_SRE_BLOCKING_ALERTS": '[{"alertname": "KubeAPIErrorBudgetBurn"}]',
        }
    )
    assert settings.pause_effect == "shadow"
    assert settings.blast_radius.cluster_nodes == 9
    [window] = settings.action_windows
    assert (window.days, window.start, window.end) == (("tue",), time(9), time(16))
    assert settings.blocking_alerts == [{"alertname": "KubeAPIErrorBudgetBurn"}]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ROBOT_SRE_PAUSE_EFFECT", "ignore"),
        ("ROBOT_SRE_AUTOMATION_REFRESH_SECONDS", "5"),
        ("ROBOT_SRE_ACTION_WINDOWS", '[{"start": "09:00", "end": "10:00", "timezone": "Moon"}]'),
        ("ROBOT_SRE_BLAST_RADIUS", '{"max_unhealthy_percent": 150}'),
    ],
)
def test_a_bad_guard_setting_names_its_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings({name: value})


@pytest.mark.parametrize(
    ("count", "percent", "nodes", "limit"),
    [(1, 34, None, 1), (1, 34, 3, 1), (1, 34, 6, 2), (1, 34, 30, 10), (3, 34, 6, 3), (0, 0, 9, 0)],
)
def test_the_node_limit_is_the_larger_of_count_and_percentage(
    count: int, percent: float, nodes: int | None, limit: int
) -> None:
    assert node_limit(count, percent, nodes) == limit


def test_the_promotion_bar_defaults_and_is_set_from_the_environment() -> None:
    bar = Settings().promotion_bar
    assert (bar.min_shadow_decisions, bar.min_agreement, bar.rollback_free_days) == (20, 0.95, 14)
    settings = load_settings(
        {"ROBOT_SRE_PROMOTION_BAR": '{"min_shadow_decisions": 50, "min_agreement": 0.99}'}
    )
    assert settings.promotion_bar.min_shadow_decisions == 50
    assert settings.promotion_bar.min_agreement == 0.99
    assert settings.promotion_bar.rollback_free_days == 14
    with pytest.raises(SettingsError, match=r"ROBOT_SRE_PROMOTION_BAR\.min_agreement"):
        load_settings({"ROBOT_SRE_PROMOTION_BAR": '{"min_agreement": 95}'})
