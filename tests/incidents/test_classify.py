"""Alert labels → incident type: label first, operator rules, built-in map, else unclassified."""

from __future__ import annotations

import pytest

from responder.incidents.classify import Classifier, build_classifier
from responder.records.incident import UNCLASSIFIED
from responder.settings import AlertnameRule, Settings
from responder.taxonomy import CatalogueError, Taxonomy, builtin_taxonomy


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return builtin_taxonomy()


@pytest.fixture(scope="module")
def classifier(taxonomy: Taxonomy) -> Classifier:
    return build_classifier(taxonomy, [])


def test_taxonomy_type_label_wins_over_the_alertname_map(classifier: Classifier) -> None:
    result = classifier.classify(
        {"alertname": "KubeNodeNotReady", "taxonomy_type": "runtime_dependency_outage"}
    )
    assert result.incident_type == "runtime_dependency_outage"
    assert "taxonomy_type" in result.reason


def test_taxonomy_type_label_alone_classifies(classifier: Classifier) -> None:
    result = classifier.classify({"alertname": "Anything", "taxonomy_type": "node_disk_pressure"})
    assert result.incident_type == "node_disk_pressure"


def test_unknown_taxonomy_type_label_gives_unclassified(classifier: Classifier) -> None:
    result = classifier.classify({"alertname": "OurCustomAlert", "taxonomy_type": "no_such_type"})
    assert result.incident_type == UNCLASSIFIED
    assert "no_such_type" in result.reason


def test_unknown_alert_without_label_is_unclassified(classifier: Classifier) -> None:
    assert classifier.classify({"alertname": "KubeCPUOvercommit"}).incident_type == UNCLASSIFIED


def test_alertname_map_classifies_a_plain_alertname(classifier: Classifier) -> None:
    result = classifier.classify({"alertname": "KubeNodeNotReady", "node": "n1"})
    assert result.incident_type == "node_unreachable_or_notready"
    assert "built-in" in result.reason


def test_image_pull_backoff_waiting_is_a_registry_pull_failure(classifier: Classifier) -> None:
    labels = {"alertname": "KubeContainerWaiting", "reason": "ImagePullBackOff"}
    assert classifier.classify(labels).incident_type == "registry_pull_failure"


def test_err_image_pull_waiting_is_a_registry_pull_failure(classifier: Classifier) -> None:
    labels = {"alertname": "KubeContainerWaiting", "reason": "ErrImagePull"}
    assert classifier.classify(labels).incident_type == "registry_pull_failure"


def test_crash_loop_waiting_is_not_a_registry_pull_failure(classifier: Classifier) -> None:
    labels = {"alertname": "KubeContainerWaiting", "reason": "CrashLoopBackOff"}
    assert classifier.classify(labels).incident_type != "registry_pull_failure"


def test_label_regex_is_fully_anchored(classifier: Classifier) -> None:
    labels = {"alertname": "KubeContainerWaiting", "reason": "NotImagePullBackOffReally"}
    assert classifier.classify(labels).incident_type == UNCLASSIFIED


def test_missing_match_label_matches_as_empty_string(classifier: Classifier) -> None:
    labels = {"alertname": "KubeNodePressure"}
    assert classifier.classify(labels).incident_type == UNCLASSIFIED


def test_disk_condition_of_node_pressure_is_node_disk_pressure(classifier: Classifier) -> None:
    labels = {"alertname": "KubeNodePressure", "condition": "DiskPressure", "node": "n1"}
    assert classifier.classify(labels).incident_type == "node_disk_pressure"


def test_narrow_rule_is_tried_before_the_broad_one(classifier: Classifier) -> None:
    dependency = {"alertname": "KubeDeploymentReplicasMismatch", "deployment": "redis-master"}
    other = {"alertname": "KubeDeploymentReplicasMismatch", "deployment": "frontend"}
    assert classifier.classify(dependency).incident_type == "runtime_dependency_outage"
    assert classifier.classify(other).incident_type == "release_drift_or_partial_apply"


def test_watchdog_is_ignored(classifier: Classifier) -> None:
    result = classifier.classify({"alertname": "Watchdog", "severity": "none"})
    assert result.incident_type is None
    assert "ignored" in result.reason


def test_operator_rule_is_tried_before_the_built_in_map(taxonomy: Taxonomy) -> None:
    settings = Settings(
        alertname_map=[
            AlertnameRule(alertname="KubeNodeNotReady", incident_type="chatops_delivery_failure")
        ]
    )
    classifier = build_classifier(taxonomy, settings.alertname_map)
    result = classifier.classify({"alertname": "KubeNodeNotReady"})
    assert result.incident_type == "chatops_delivery_failure"
    assert "settings alertname_map" in result.reason


def test_operator_rule_maps_a_new_alertname(taxonomy: Taxonomy) -> None:
    settings = Settings(
        alertname_map=[
            AlertnameRule(
                alertname="ImageFactoryBuildQueueStuck",
                match={"queue": "builds|scans"},
                incident_type="background_job_buildup",
            )
        ]
    )
    classifier = build_classifier(taxonomy, settings.alertname_map)
    matching = {"alertname": "ImageFactoryBuildQueueStuck", "queue": "scans"}
    other = {"alertname": "ImageFactoryBuildQueueStuck", "queue": "mail"}
    assert classifier.classify(matching).incident_type == "background_job_buildup"
    assert classifier.classify(other).incident_type == UNCLASSIFIED


def test_operator_rule_can_ignore_an_alertname(taxonomy: Taxonomy) -> None:
    rules = [AlertnameRule(alertname="KubeNodeNotReady", match={"node": "lab-.*"}, ignore=True)]
    classifier = build_classifier(taxonomy, rules)
    assert (
        classifier.classify({"alertname": "KubeNodeNotReady", "node": "lab-1"}).incident_type
        is None
    )
    assert (
        classifier.classify({"alertname": "KubeNodeNotReady", "node": "prod-1"}).incident_type
        == "node_unreachable_or_notready"
    )


def test_operator_rule_with_unknown_incident_type_names_the_field(taxonomy: Taxonomy) -> None:
    rules = [AlertnameRule(alertname="MyAlert", incident_type="disk_is_sad")]
    with pytest.raises(CatalogueError) as caught:
        build_classifier(taxonomy, rules)
    assert caught.value.field == "incident_type"
    assert "settings alertname_map" in caught.value.file
    assert "MyAlert" in caught.value.file
    assert "disk_is_sad" in str(caught.value)


def test_operator_rule_with_both_type_and_ignore_is_refused(taxonomy: Taxonomy) -> None:
    rules = [AlertnameRule(alertname="MyAlert", incident_type="node_disk_pressure", ignore=True)]
    with pytest.raises(CatalogueError) as caught:
        build_classifier(taxonomy, rules)
    assert caught.value.field == "incident_type"


def test_operator_rule_with_invalid_regex_names_the_label(taxonomy: Taxonomy) -> None:
    rules = [
        AlertnameRule(alertname="MyAlert", match={"node": "(["}, incident_type="node_disk_pressure")
    ]
    with pytest.raises(CatalogueError) as caught:
        build_classifier(taxonomy, rules)
    assert caught.value.field == "match.node"
