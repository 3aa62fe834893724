"""Settings: YAML file named by ROBOT_SRE_CONFIG, environment overrides, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from responder.records.levels import Environment
from responder.settings import AlertnameRule, Settings, SettingsError, load_settings


@pytest.fixture(autouse=True)
def no_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A home without ~/.kube/config and no in-cluster service account."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    return home


def _config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "robot-sre.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_defaults_without_file_or_environment() -> None:
    settings = load_settings({})
    assert settings.environment == Environment.demo
    assert settings.store_url == "sqlite:///robot-sre.db"
    assert settings.webhook_token is None
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)


def test_yaml_file_named_by_robot_sre_config_is_read(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        "environment: staging\n"
        "store_url: redis://127.0.0.1:6379/0\n"
        "quiet_period_seconds: {node_disk_pressure: 120}\n"
        "alertname_map:\n"
        "  - alertname: MyAlert\n"
        "    incident_type: node_disk_pressure\n",
    )
    settings = load_settings({"ROBOT_SRE_CONFIG": path})
    assert settings.environment == Environment.staging
    assert settings.store_url == "redis://127.0.0.1:6379/0"
    assert settings.quiet_period_seconds == {"node_disk_pressure": 120}
    assert settings.alertname_map == [
        AlertnameRule(alertname="MyAlert", incident_type="node_disk_pressure")
    ]


def test_environment_variable_overrides_the_yaml_file(tmp_path: Path) -> None:
    path = _config(tmp_path, "environment: staging\nwebhook_token: from-file\n")
    settings = load_settings({"ROBOT_SRE_CONFIG": path, "ROBOT_SRE_ENVIRONMENT": "production"})
    assert settings.environment == Environment.production
    assert settings.webhook_token == "from-file"


def test_bogus_environment_raises_settings_error_naming_the_key() -> None:
    with pytest.raises(SettingsError, match=r"ROBOT_SRE_ENVIRONMENT: Input should be 'demo'"):
        load_settings({"ROBOT_SRE_ENVIRONMENT": "bogus"})


def test_unknown_key_in_the_file_raises_settings_error_naming_file_and_key(
    tmp_path: Path,
) -> None:
    path = _config(tmp_path, "enviroment: demo\n")
    with pytest.raises(SettingsError) as caught:
        load_settings({"ROBOT_SRE_CONFIG": path})
    assert path in str(caught.value)
    assert "enviroment" in str(caught.value)


def test_file_that_is_not_a_mapping_raises_settings_error(tmp_path: Path) -> None:
    path = _config(tmp_path, "- environment\n")
    with pytest.raises(SettingsError, match="expected a mapping"):
        load_settings({"ROBOT_SRE_CONFIG": path})


def test_missing_config_file_raises_settings_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"nowhere\.yaml"):
        load_settings({"ROBOT_SRE_CONFIG": str(tmp_path / "nowhere.yaml")})


def test_structured_environment_value_is_parsed_as_json() -> None:
    settings = load_settings(
        {"ROBOT_SRE_QUIET_PERIOD_SECONDS": '{"node_disk_pressure": 900, "*": 120}'}
    )
    assert settings.quiet_period_seconds == {"node_disk_pressure": 900, "*": 120}


def test_structured_list_environment_value_is_parsed_as_json() -> None:
    rules = [{"alertname": "MyAlert", "ignore": True}]
    settings = load_settings({"ROBOT_SRE_ALERTNAME_MAP": json.dumps(rules)})
    assert settings.alertname_map == [AlertnameRule(alertname="MyAlert", ignore=True)]


def test_malformed_structured_environment_value_raises_settings_error_naming_it() -> None:
    with pytest.raises(SettingsError, match="ROBOT_SRE_QUIET_PERIOD_SECONDS"):
        load_settings({"ROBOT_SRE_QUIET_PERIOD_SECONDS": '{"node_disk_pressure": 900'})


def test_scalar_environment_values_are_converted() -> None:
    settings = load_settings({"ROBOT_SRE_PORT": "9099", "ROBOT_SRE_DRY_RUN": "false"})
    assert settings.port == 9099
    assert settings.dry_run is False


def test_empty_webhook_token_means_no_token() -> None:
    assert load_settings({"ROBOT_SRE_WEBHOOK_TOKEN": ""}).webhook_token is None


def test_redacted_hides_the_webhook_token() -> None:
    settings = load_settings({"ROBOT_SRE_WEBHOOK_TOKEN": "s3cr3t-t0ken"})
    shown = settings.redacted()
    assert shown["webhook_token"] == "***"
    assert "s3cr3t-t0ken" not in json.dumps(shown)
    assert settings.webhook_token == "s3cr3t-t0ken"


def test_redacted_shows_no_token_when_none_is_set() -> None:
    assert Settings().redacted()["webhook_token"] is None


def test_dry_run_defaults_to_true_when_no_cluster_is_configured() -> None:
    settings = load_settings({})
    assert settings.dry_run is None
    assert settings.cluster_configured is False
    assert settings.effective_dry_run is True


def test_kubeconfig_variable_configures_a_cluster(tmp_path: Path) -> None:
    settings = load_settings({"KUBECONFIG": str(tmp_path / "kubeconfig")})
    assert settings.kubeconfig == str(tmp_path / "kubeconfig")
    assert settings.effective_dry_run is False


def test_home_kube_config_configures_a_cluster(no_cluster: Path) -> None:
    (no_cluster / ".kube").mkdir()
    (no_cluster / ".kube" / "config").write_text("apiVersion: v1\n", encoding="utf-8")
    assert load_settings({}).effective_dry_run is False


def test_explicit_dry_run_wins_over_the_cluster_default(tmp_path: Path) -> None:
    settings = load_settings(
        {"KUBECONFIG": str(tmp_path / "kubeconfig"), "ROBOT_SRE_DRY_RUN": "true"}
    )
    assert settings.effective_dry_run is True
