"""The backtest reads only the window's incidents and judges each as of
when it was raised; the preview's clamps come from the hard constraints."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fixtures.incidents import make_incident
from fixtures.rigs import Responder

from responder.admin import whatif
from responder.policy.severity import SeverityRules
from responder.records.incident import Incident
from responder.records.levels import Confidence, Environment
from responder.records.lifecycle import IncidentState
from responder.records.window import SuppressionWindow
from responder.runtime import Runtime
from responder.settings import Settings

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def raised_at(index: int, created: datetime) -> Incident:
    return make_incident(
        f"i{index}",
        node=f"10.0.0.{index}",
        key=f"k{index}",
        confidence=Confidence.high,
        state=IncidentState.observed,
        created_at=created,
    )


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rig = Responder(settings=Settings(store_url=f"sqlite:///{tmp_path}/s.db"))
    try:
        yield rig.runtime
    finally:
        rig.store.close()


def test_the_backtest_reads_only_its_window_and_judges_each_incident_when_raised(
    runtime: Runtime,
) -> None:
    # one incident a day for ten days, at 03:00 (inside a night window)
    for day in range(10):
        created = (NOW - timedelta(days=day)).replace(hour=3)
        runtime.store.save_incident(raised_at(day, created))
    rule = runtime.rules.clone("builtin.node_disk_pressure", "test", "test")
    night = SuppressionWindow.model_validate({"start": "01:00", "end": "05:00"})
    draft = rule.model_copy(update={"suppression_schedule": (night,)})
    result = whatif.backtest(
        runtime.store,
        runtime.policy,
        SeverityRules(runtime.taxonomy, runtime.policy.engine),
        draft,
        runtime.rules.active(),
        NOW,
        days=7,
    )
    assert result.scanned == 7 and result.matched == 7
    assert result.suppressed == 7
    assert {r.incident.id for r in result.rows} == {f"i{d}" for d in range(7)}
    assert all(
        c.action == "notify_operator" and c.after == "off" for r in result.rows for c in r.changes
    )


def test_the_preview_only_covers_the_rules_environments(runtime: Runtime) -> None:
    rule = runtime.rules.clone("builtin.node_disk_pressure", "test", "test")
    draft = rule.model_copy(update={"environment_scope": (Environment.production,)})
    preview = whatif.preview(runtime.policy, draft, runtime.rules.active(), NOW)
    assert preview.environments == ["production"]
    scale = next(r for r in preview.rows if r.action == "scale_to_zero")
    # the clone asks for auto; production's hard constraints clamp it
    assert scale.cells[0].after["decision"] == "approval" and scale.cells[0].clamped
