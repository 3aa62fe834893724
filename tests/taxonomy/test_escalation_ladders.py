"""The escalation ladders of the catalogue (issue 10, item 6): every type has
one, disk pressure's is the issue's, the derived ones say so, and the loader
refuses a broken ladder naming the type and the step."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from responder.taxonomy import CatalogueError, LadderStep, Taxonomy, builtin_taxonomy, load_taxonomy
from responder.taxonomy.loader import DATA_DIR
from responder.taxonomy.models import DEFAULT_LADDER


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return builtin_taxonomy()


def test_every_type_has_a_ladder_whose_last_step_escalates(taxonomy: Taxonomy) -> None:
    for incident_type in taxonomy.incident_types.values():
        ladder = incident_type.escalation_ladder
        assert ladder, incident_type.id
        assert ladder[-1].on_failure == "escalate", incident_type.id
        assert all(step.wait_seconds > 0 for step in ladder), incident_type.id


def test_ladder_steps_name_only_the_types_own_non_human_actions(taxonomy: Taxonomy) -> None:
    for incident_type in taxonomy.incident_types.values():
        own = set(incident_type.auto_allowed) | set(incident_type.approval_required)
        for step in incident_type.escalation_ladder:
            assert set(step.actions) <= own, (incident_type.id, step.id)
            assert not set(step.actions) & set(incident_type.human_only)


def test_every_approval_required_action_has_its_ladder_step(taxonomy: Taxonomy) -> None:
    # an approval-required action on no step would be asked the moment the
    # policy allows it, before the steps below it had their time
    for incident_type in taxonomy.incident_types.values():
        on_ladder = {a for step in incident_type.escalation_ladder for a in step.actions}
        missing = set(incident_type.approval_required) - on_ladder
        assert not missing, (incident_type.id, sorted(missing))


def test_drain_comes_after_cordon_on_every_node_ladder(taxonomy: Taxonomy) -> None:
    for type_id in ("node_disk_pressure", "node_unreachable_or_notready"):
        steps = [s.actions for s in taxonomy.incident_type(type_id).escalation_ladder]
        cordon = next(i for i, a in enumerate(steps) if "cordon_node" in a)
        drain = next(i for i, a in enumerate(steps) if "drain_node" in a)
        assert cordon < drain, type_id


def test_disk_pressure_ladder_is_the_issues(taxonomy: Taxonomy) -> None:
    ladder = taxonomy.incident_type("node_disk_pressure").escalation_ladder
    assert [(s.id, s.actions, s.on_failure) for s in ladder] == [
        ("contain", ("delete_completed_pods", "suspend_cronjob", "scale_to_zero"), "next"),
        ("ask_cordon", ("cordon_node",), "next"),
        ("ask_drain", ("drain_node", "scale_shared_controller"), "next"),
        ("ask_reboot", ("reboot_worker",), "next"),
        ("ask_replace", ("replace_worker",), "escalate"),
    ]
    assert ladder[0].wait_seconds == 600


def test_ladders_other_than_disk_pressure_are_marked_derived() -> None:
    text = (DATA_DIR / "incident_types.yaml").read_text(encoding="utf-8")
    marked = [line for line in text.splitlines() if line.startswith("    escalation_ladder:")]
    assert len(marked) == 11
    derived = [line for line in marked if "# derived" in line]
    assert len(derived) == 10


def test_an_unknown_type_gets_the_one_step_notify_ladder(taxonomy: Taxonomy) -> None:
    assert taxonomy.ladder("unclassified") == DEFAULT_LADDER
    assert taxonomy.ladder("team_defined_type") == (
        LadderStep(
            id="notify", actions=("notify_operator",), wait_seconds=900, on_failure="escalate"
        ),
    )
    assert taxonomy.ladder("node_disk_pressure")[0].id == "contain"


# loader refusals


def _with_ladder(tmp_path: Path, type_id: str, ladder: Any) -> Path:
    data_dir = tmp_path / "data"
    shutil.copytree(DATA_DIR, data_dir)
    types_file = data_dir / "incident_types.yaml"
    doc = yaml.safe_load(types_file.read_text(encoding="utf-8"))
    (entry,) = [t for t in doc["incident_types"] if t["id"] == type_id]
    if ladder is None:
        del entry["escalation_ladder"]
    else:
        entry["escalation_ladder"] = ladder
    types_file.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return data_dir


def _step(step_id: str, *actions: str, wait: int = 600, on_failure: str = "escalate") -> Any:
    return {"id": step_id, "actions": list(actions), "wait_seconds": wait, "on_failure": on_failure}


def _refusal(data_dir: Path) -> str:
    with pytest.raises(CatalogueError) as caught:
        load_taxonomy(data_dir)
    return str(caught.value)


@pytest.mark.parametrize("ladder", [[], None])
def test_an_empty_or_missing_ladder_is_refused(tmp_path: Path, ladder: Any) -> None:
    message = _refusal(_with_ladder(tmp_path, "http_error_rate_spike", ladder))
    assert "incident_types.yaml" in message
    assert "incident_types[http_error_rate_spike].escalation_ladder" in message
    assert "at least one step" in message


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        ("format_disk", "unknown action 'format_disk'"),
        ("delete_pvc", "'delete_pvc' is a human-only action"),
    ],
)
def test_an_unknown_or_human_only_action_in_a_step_is_refused(
    tmp_path: Path, action: str, reason: str
) -> None:
    ladder = [
        _step("contain", "delete_completed_pods", on_failure="next"),
        _step("wipe", action),
    ]
    message = _refusal(_with_ladder(tmp_path, "node_disk_pressure", ladder))
    assert "incident_types[node_disk_pressure].escalation_ladder[wipe].actions" in message
    assert reason in message


def test_an_action_the_type_does_not_name_is_refused(tmp_path: Path) -> None:
    ladder = [_step("ask_rollback", "rollback_release")]
    message = _refusal(_with_ladder(tmp_path, "identity_provider_unreachable", ladder))
    assert (
        "incident_types[identity_provider_unreachable].escalation_ladder[ask_rollback]" in message
    )
    assert (
        "'rollback_release' is not one of the type's auto_allowed or approval_required" in message
    )


@pytest.mark.parametrize("wait", [0, -60])
def test_a_non_positive_wait_is_refused(tmp_path: Path, wait: int) -> None:
    ladder = [_step("ask_restart", "rollout_restart", wait=wait)]
    message = _refusal(_with_ladder(tmp_path, "http_error_rate_spike", ladder))
    assert (
        "incident_types[http_error_rate_spike].escalation_ladder[ask_restart].wait_seconds"
        in message
    )
    assert "positive" in message


def test_a_last_step_that_does_not_escalate_is_refused(tmp_path: Path) -> None:
    ladder = [_step("ask_restart", "rollout_restart", on_failure="next")]
    message = _refusal(_with_ladder(tmp_path, "http_error_rate_spike", ladder))
    assert "escalation_ladder[ask_restart].on_failure" in message
    assert "the last step must escalate" in message


def test_a_step_without_actions_or_a_repeated_step_id_is_refused(tmp_path: Path) -> None:
    empty = _refusal(_with_ladder(tmp_path / "a", "http_error_rate_spike", [_step("idle")]))
    assert "escalation_ladder[idle].actions" in empty and "at least one action" in empty
    twice = [
        _step("ask_restart", "rollout_restart", on_failure="next"),
        _step("ask_restart", "rollback_release"),
    ]
    repeated = _refusal(_with_ladder(tmp_path / "b", "http_error_rate_spike", twice))
    assert "escalation_ladder[ask_restart]" in repeated and "used twice" in repeated


def test_an_unknown_failure_path_is_refused(tmp_path: Path) -> None:
    ladder = [_step("ask_restart", "rollout_restart", on_failure="retry")]
    message = _refusal(_with_ladder(tmp_path, "http_error_rate_spike", ladder))
    assert "incident_types[http_error_rate_spike].escalation_ladder" in message
    assert "on_failure" in message
