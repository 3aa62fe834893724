"""Settings: a YAML file named by ``ROBOT_SRE_CONFIG``, each key overridable by
an environment variable ``ROBOT_SRE_<KEY>`` (upper case).

Defaults are the embedded demo setup: SQLite state in ``./robot-sre.db`` and
dry-run actions when no cluster is configured.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from responder.chat_settings import (
    ApproverSettings,
    ChannelSettings,
)
from responder.prometheus_settings import PrometheusSettings
from responder.records.levels import Environment
from responder.records.target import AllowEntry, TargetPattern
from responder.records.window import SuppressionWindow
from responder.remedies import Remedies
from responder.store.urls import redact_url

ENV_PREFIX = "ROBOT_SRE_"


class SettingsError(ValueError):
    pass


class AlertnameRule(BaseModel):
    """An operator's addition to the alertname map (tried before the built-in map)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alertname: str
    match: dict[str, str] = {}
    incident_type: str | None = None
    ignore: bool = False


DependencyKind = Literal["redis", "nats", "minio", "registry", "ldap", "postgres"]


class DependencyEndpoint(BaseModel):
    """A runtime dependency the responder probes directly (a health probe).

    Secrets are never written here: ``password_env`` (and ``username_env``)
    name the environment variables that hold them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: DependencyKind
    url: str
    workloads: list[str] = Field(
        default_factory=list,
        description="globs over the incident's workload name that mean this dependency; "
        "default: the dependency's name followed by anything",
    )
    core: bool = Field(default=False, description="a core dependency: its outage is critical")
    shared: bool = Field(default=False, description="other workloads depend on it")
    username_env: str | None = None
    password_env: str | None = None
    timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    # LDAP only
    bind_dn: str | None = None
    search_base: str | None = None
    search_filter: str = "(objectClass=*)"
    # PostgreSQL only
    saturation_percent: float = Field(
        default=90.0,
        gt=0,
        le=100,
        description="connections in use, of max_connections (or of the database's own "
        "limit), at or above which the database counts as saturated",
    )

    def patterns(self) -> list[str]:
        return self.workloads or [f"{self.name}*"]

    @model_validator(mode="after")
    def _postgres_url_is_a_url(self) -> DependencyEndpoint:
        # a key=value DSN could not have its password hidden where settings are shown
        if self.kind == "postgres" and not self.url.startswith(("postgresql://", "postgres://")):
            raise ValueError("a postgres url is postgresql://user@host:port/database")
        return self


class OciSettings(BaseModel):
    """Where the OCI executors and the OCI evidence collector reach OCI.

    ``auth`` is ``config`` (an OCI config file and profile) or
    ``instance_principal``; the endpoints default to the region's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    auth: Literal["config", "instance_principal"] = "config"
    config_file: str = "~/.oci/config"
    profile: str = "DEFAULT"
    region: str | None = None
    compartment_id: str | None = None
    cluster_id: str | None = None
    compute_endpoint: str | None = None
    container_engine_endpoint: str | None = None
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    read_timeout_seconds: float = Field(default=20.0, gt=0)
    node_instances: dict[str, str] = Field(
        default_factory=dict,
        description="node name -> instance OCID, used when the node's providerID cannot be read",
    )


#: the secrets ``redacted`` hides (tokens of chat channels and the webhook)
SECRET_FIELDS = (
    "webhook_token",
    "slack_bot_token",
    "slack_signing_secret",
    "slack_app_token",
    "telegram_bot_token",
    "telegram_webhook_secret",
)


class BlastRadiusSettings(BaseModel):
    """How many nodes may be unhealthy or under remediation before node
    actions are refused: the larger of ``max_unhealthy_nodes`` and
    ``max_unhealthy_percent`` of ``cluster_nodes`` (when the size is known)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_unhealthy_nodes: int = Field(default=1, ge=0)
    max_unhealthy_percent: float = Field(default=34.0, ge=0, le=100)
    cluster_nodes: int | None = Field(
        default=None, ge=1, description="the cluster's node count; None: only the count applies"
    )
    storm_cooldown_seconds: int = Field(
        default=1800, ge=0, description="after a breach, automatic actions wait this long"
    )


class ActionCapSettings(BaseModel):
    """How much the robot may change per rolling window
    (the action caps): pods deleted and workloads scaled down,
    per namespace and per cluster."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window_seconds: int = Field(default=3600, ge=1)
    pods_deleted_per_namespace: int = Field(default=50, ge=0)
    pods_deleted_per_cluster: int = Field(default=200, ge=0)
    workloads_scaled_per_namespace: int = Field(default=3, ge=0)
    workloads_scaled_per_cluster: int = Field(default=10, ge=0)


class PromotionBar(BaseModel):
    """What a class (incident type x environment) must show before a person
    promotes its automation mode (promotion by evidence)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_shadow_decisions: int = Field(default=20, ge=0)
    min_agreement: float = Field(
        default=0.95, ge=0, le=1, description="share of action verdicts marked right"
    )
    rollback_free_days: int = Field(
        default=14, ge=0, description="no rollback may fall within this many days"
    )


#: a lifetime: a count of minutes, hours, days or weeks (``90d``), or ``never``
ModelT = TypeVar("ModelT", bound=BaseModel)

LIFETIME = re.compile(r"^(?:(\d+)([mhdw])|never)$")


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    environment: Environment = Environment.demo
    store_url: str = "sqlite:///robot-sre.db"
    store_namespace: str = "robot-sre"
    webhook_token: str | None = None
    token_lifetime: str = Field(
        default="90d",
        pattern=LIFETIME.pattern,
        description="how long a new API token lives unless its maker says (30m, 12h, 90d, "
        "8w, never)",
    )
    allow_volatile_store: bool = Field(
        default=False,
        description="production: report ready on a store that keeps nothing on disk",
    )
    allow_unauthenticated_webhook: bool = Field(
        default=False,
        description="serve production or staging without a webhook token (anyone who "
        "reaches the port could post alerts the robot acts on)",
    )
    dry_run: bool | None = Field(
        default=None, description="None: dry-run exactly when no cluster is configured"
    )
    kubeconfig: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 1024 * 1024
    http_header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="a request's headers must arrive within this (slow clients are cut off)",
    )
    http_keep_alive_seconds: int = Field(
        default=5, ge=1, description="an idle kept-alive connection is closed after this"
    )
    max_connections: int = Field(
        default=0,
        ge=0,
        description="open connections at most (0: the descriptor limit less a reserve); "
        "beyond it the one waiting longest for its headers is closed",
    )
    max_requests_in_flight: int = Field(
        default=256, ge=1, description="beyond it a request gets 503 (not /healthz)"
    )
    max_alerts_per_payload: int = Field(
        default=1000,
        ge=1,
        description="a payload with more alerts is refused (413); set Alertmanager's "
        "webhook max_alerts to at most this",
    )
    queue_max_depth: int = 10_000
    worker_batch: int = 8
    worker_slice_alerts: int = Field(
        default=250,
        ge=1,
        description="a payload is processed this many alerts at a time, taking turns "
        "with the other payloads claimed",
    )
    worker_lease_seconds: float = 30.0
    worker_idle_poll_seconds: float = 0.25
    sweep_interval_seconds: float = 10.0
    quiet_period_seconds: dict[str, int] = {}
    duplicate_window_seconds: int | None = None
    alertname_map: list[AlertnameRule] = []
    runbooks_dir: str | None = Field(
        default=None, description="the runbooks served at /runbooks/; default: docs/runbooks"
    )
    policies_dir: str | None = Field(
        default=None, description="policies.cel/ directory; default: the shipped one"
    )
    cel_engine: str = Field(
        default="auto", description="auto (fastest installed), cel-expr-python or cel-python"
    )
    allowlist_extra: list[AllowEntry] = []
    shared_targets: list[TargetPattern] = []
    rules_refresh_seconds: float = 2.0
    log_level: str = "info"
    action_timeout_seconds: float = Field(
        default=30.0, gt=0, description="deadline of one executor plan or apply"
    )
    observation_poll_seconds: float | None = Field(
        default=None, gt=0, description="re-poll of open incidents; None: the type's (60 s)"
    )
    collector_timeout_seconds: float = Field(default=10.0, gt=0)
    collector_concurrency: int = Field(
        default=8,
        ge=1,
        description="evidence collectors running at once (the incidents of a batch are "
        "observed together; this bounds the requests they make of the cluster's API)",
    )
    approval_expiry_seconds: int = Field(default=600, gt=0)
    escalation_window_seconds: int | None = Field(
        default=None,
        gt=0,
        description="a contained incident whose problem persists this long escalates, and "
        "the first step of every escalation ladder waits this long; None: the type's action "
        "retry cooldown (15 min) and the ladder's own wait",
    )
    ladder_holds_asks: bool = Field(
        default=True,
        description="approval requests for the actions of later escalation-ladder steps wait "
        "until the incident reaches their step; False: asked as soon as the policy says so",
    )
    approval_expiry_per_action: dict[str, int] = Field(
        default_factory=dict, description="action id -> seconds an approval request stays open"
    )
    dependencies: list[DependencyEndpoint] = []
    oci: OciSettings | None = None
    prometheus: PrometheusSettings | None = None
    remedies: Remedies = Field(
        default_factory=Remedies,
        description="the standbys, recovery Jobs, subsystems and controllers actions may use",
    )
    # Guard rails of gradual automation.
    pause_effect: Literal["approval", "shadow"] = Field(
        default="approval", description="what an automatic decision becomes while paused"
    )
    automation_refresh_seconds: float = Field(
        default=1.0,
        gt=0,
        le=1.0,
        description="pauses and automation modes are read from the store at most this stale",
    )
    chat_pause_minutes: int = Field(
        default=60,
        gt=0,
        le=7 * 24 * 60,
        description="how long a chat 'Pause automation' button pauses the incident's type",
    )
    blast_radius: BlastRadiusSettings = Field(default_factory=BlastRadiusSettings)
    action_caps: ActionCapSettings = Field(default_factory=ActionCapSettings)
    promotion_bar: PromotionBar = Field(default_factory=PromotionBar)
    action_windows: list[SuppressionWindow] = Field(
        default_factory=list,
        description="recover and disruptive actions run only inside these windows "
        "(days, start, end, timezone); empty: at any time",
    )
    blocking_alerts: list[dict[str, str]] = Field(
        default_factory=list,
        description="label selectors (equality): while a matching alert fires, automatic "
        "actions wait for an approval",
    )
    alertmanager_url: str | None = Field(
        default=None,
        description="Alertmanager's base URL: at start, its firing blocking alerts are read "
        "from /api/v2/alerts; the chat console's silence command makes silences there",
    )
    # Operator channels and approvers.
    channels: ChannelSettings = Field(default_factory=ChannelSettings)
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = Field(
        default=None, description="app-level token (xapp-…) for Slack's Socket Mode"
    )
    telegram_bot_token: str | None = None
    telegram_webhook_secret: str | None = None
    approvers: list[ApproverSettings] = []
    # Accounts and access (the admin UI under /admin).
    api_auth: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="auth on /api/v1: auto = on once any user or API token exists",
    )
    admin_user: str | None = Field(
        default=None, description="the first admin, created at start when no user exists"
    )
    admin_password: str | None = None
    session_secret: str | None = Field(
        default=None, description="signs session cookies; default: one generated into the store"
    )
    session_ttl_seconds: int = Field(default=12 * 3600, gt=60)
    session_cookie_secure: bool | None = Field(
        default=None, description="Secure cookies; None: when the request came over https"
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses/CIDRs whose X-Auth-Request-User/-Groups headers are believed",
    )
    proxy_group_roles: dict[str, Literal["viewer", "operator", "approver", "admin"]] = Field(
        default_factory=dict, description="X-Auth-Request-Groups group -> role"
    )

    @field_validator(
        "webhook_token",
        "admin_user",
        "admin_password",
        "session_secret",
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "telegram_bot_token",
        "telegram_webhook_secret",
    )
    @classmethod
    def _empty_token_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("approval_expiry_per_action")
    @classmethod
    def _positive_expiry(cls, value: dict[str, int]) -> dict[str, int]:
        for action, seconds in value.items():
            if seconds <= 0:
                raise ValueError(f"{action}: the expiry must be a positive number of seconds")
        return value

    @model_validator(mode="after")
    def _chat_channels_are_complete(self) -> Settings:
        if self.slack_bot_token and self.channels.slack is None:
            raise ValueError(
                "ROBOT_SRE_SLACK_BOT_TOKEN is set but channels.slack is not: "
                "set channels.slack.channel to the Slack channel to post to"
            )
        if self.slack_bot_token and not self.slack_signing_secret:
            raise ValueError(
                "ROBOT_SRE_SLACK_BOT_TOKEN is set but ROBOT_SRE_SLACK_SIGNING_SECRET is not: "
                "button presses could not be verified"
            )
        slack = self.channels.slack
        if slack is not None and slack.mode == "socket" and not self.slack_app_token:
            raise ValueError(
                "channels.slack.mode is socket but ROBOT_SRE_SLACK_APP_TOKEN is not set: "
                "Socket Mode connects with the app-level token (xapp-…)"
            )
        if self.telegram_bot_token and self.channels.telegram is None:
            raise ValueError(
                "ROBOT_SRE_TELEGRAM_BOT_TOKEN is set but channels.telegram is not: "
                "set channels.telegram.chat_id to the chat to post to"
            )
        if self.telegram_bot_token and not self.telegram_webhook_secret:
            raise ValueError(
                "ROBOT_SRE_TELEGRAM_BOT_TOKEN is set but ROBOT_SRE_TELEGRAM_WEBHOOK_SECRET is "
                "not: button presses could not be verified"
            )
        names = [a.name for a in self.approvers]
        if len(set(names)) != len(names):
            raise ValueError("approvers: every approver needs a distinct name")
        return self

    def serving_refusal(self) -> str | None:
        """Why ``robot-sre serve`` must not start with these settings, if it must not."""
        guarded = self.environment in (Environment.production, Environment.staging)
        if guarded and self.webhook_token is None and not self.allow_unauthenticated_webhook:
            return (
                f"environment {self.environment}: the webhook needs a token, or anyone who "
                "reaches the port can post alerts the robot acts on: set "
                "ROBOT_SRE_WEBHOOK_TOKEN (the Helm chart generates one), or "
                "ROBOT_SRE_ALLOW_UNAUTHENTICATED_WEBHOOK=true to accept that risk"
            )
        return None

    @property
    def cluster_configured(self) -> bool:
        return bool(
            self.kubeconfig
            or Path("~/.kube/config").expanduser().exists()
            or os.environ.get("KUBERNETES_SERVICE_HOST")
        )

    @property
    def effective_dry_run(self) -> bool:
        return not self.cluster_configured if self.dry_run is None else self.dry_run

    def section(self, part: type[ModelT]) -> ModelT:
        """The values of ``part``'s fields in these settings."""
        return part.model_validate({name: getattr(self, name) for name in part.model_fields})

    def redacted(self) -> dict[str, Any]:
        """The settings as shown in logs: secrets replaced."""
        shown = self.model_dump(mode="json")
        for secret in (*SECRET_FIELDS, "admin_password", "session_secret"):
            if shown.get(secret):
                shown[secret] = "***"
        shown["store_url"] = redact_url(self.store_url)
        for dependency in shown.get("dependencies", []):
            dependency["url"] = redact_url(dependency["url"])
        if shown.get("prometheus"):
            shown["prometheus"]["url"] = redact_url(shown["prometheus"]["url"])
        return shown


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, field in Settings.model_fields.items():
        raw = environ.get(ENV_PREFIX + name.upper())
        if raw is None:
            continue
        # Structured values (maps, lists, sections) are given as YAML/JSON text.
        annotation = str(field.annotation)
        section = isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
        if "dict" in annotation or "list" in annotation or "Settings" in annotation or section:
            try:
                values[name] = yaml.safe_load(raw)
            except yaml.YAMLError as exc:
                raise SettingsError(
                    f"{ENV_PREFIX}{name.upper()}: invalid YAML/JSON value: {exc}"
                ) from exc
        else:
            values[name] = raw
    if "KUBECONFIG" in environ and "kubeconfig" not in values:
        values["kubeconfig"] = environ["KUBECONFIG"]
    return values


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the YAML file (if any) and apply environment overrides.

    Raises ``SettingsError`` naming the file and key of any invalid value."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    source = "settings"
    config_path = env.get("ROBOT_SRE_CONFIG")
    if config_path:
        source = config_path
        try:
            loaded = yaml.safe_load(Path(config_path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise SettingsError(f"{config_path}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise SettingsError(f"{config_path}: expected a mapping of settings")
        values.update(loaded)
    from_env = _from_env(env)
    values.update(from_env)
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = str(err["loc"][0]) if err["loc"] else "-"
            where = f"{ENV_PREFIX}{key.upper()}" if key in from_env else f"{source}: {key}"
            rest = ".".join(str(p) for p in err["loc"][1:])
            problems.append(f"{where}{'.' + rest if rest else ''}: {err['msg']}")
        raise SettingsError("; ".join(problems)) from exc
