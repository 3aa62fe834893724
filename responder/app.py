"""Starlette assembly: routes, the runtime services and the queue worker."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route

from responder.accounts.http_auth import ApiAuth
from responder.accounts.service import Accounts
from responder.actions.executor import Executor
from responder.actions.feasibility import Feasibility, FeasibilityStage
from responder.actions.registry import ExecutorRegistry, builtin_executors
from responder.actions.runner import ActionRunner
from responder.actions.stage import ActStage, RecordRunsStage
from responder.admin import create_admin_app
from responder.api.approvals import ApprovalsApi
from responder.api.audit import AuditApi
from responder.api.automation import AutomationApi
from responder.api.chat import ChatCallbacks
from responder.api.incidents import IncidentsApi
from responder.api.openapi import OpenApi
from responder.api.operations import Operations
from responder.api.policy import PolicyApi
from responder.api.presses import ChatPresses
from responder.api.rules import RulesApi
from responder.api.runbooks import Runbooks
from responder.api.taxonomy import TaxonomyApi
from responder.approvals.answers import ApprovalAnswers
from responder.approvals.approvers import ApproverDirectory
from responder.approvals.ask import AskStage
from responder.approvals.requests import ApprovalRequests
from responder.channels.build import build_chatops, rule_policies
from responder.channels.failover import ChannelFailover
from responder.channels.health import ChannelFailureReporter, ChannelHealthCollector
from responder.channels.stage import NotifyStage
from responder.console.commands import Console
from responder.console.slack_commands import SlackCommands, SlashCommand
from responder.console.socket_mode import SocketModeLink
from responder.console.telegram_bot import telegram_bot
from responder.evidence.collector import Collector
from responder.evidence.error_rates import ErrorRateCollector
from responder.evidence.observer import CollectorRegistry, Observer
from responder.evidence.probes import ProbeCollector
from responder.evidence.prometheus_api import PrometheusApi
from responder.evidence.remedy_targets import RemedyTargetCollector
from responder.evidence.stage import ObserveStage
from responder.guards.automation import AutomationBook
from responder.guards.rails import GuardRails
from responder.guards.readiness import MarkBook
from responder.guards.stage import GuardStage
from responder.guards.storm import NodeStorms
from responder.incidents.classify import build_classifier
from responder.incidents.correlate import CorrelateStage
from responder.incidents.escalation import EscalationStage
from responder.incidents.timing import Timings
from responder.ingest.seed import seed_blocking_alerts
from responder.ingest.webhook import AlertmanagerWebhook
from responder.ingest.worker import QueueWorker
from responder.mcp.http import McpHttp
from responder.metrics import Metrics
from responder.pipeline.indexer import PipelineIndexer
from responder.pipeline.runner import LOCK_TTL_SECONDS, Pipeline
from responder.pipeline.schedule import Scheduler
from responder.pipeline.stages import Stages
from responder.policy.allowlist import V1_ALLOWLIST, Allowlist
from responder.policy.cel import default_engine, engine_named
from responder.policy.engine import DEFAULT_POLICIES_DIR, PolicyEngine, PolicySet
from responder.policy.rulebook import RuleBook
from responder.policy.severity import SeverityRules
from responder.policy.stage import DecideStage
from responder.prometheus_settings import PrometheusSettings
from responder.records.alert import WebhookPayload
from responder.runtime import Runtime
from responder.sections import (
    AccountSettings,
    ActionSettings,
    ChatOpsSettings,
    GuardSettings,
    QueueSettings,
    TimingSettings,
    WebhookSettings,
)
from responder.serving import QuietLoopErrors, RequestLimit
from responder.settings import Settings
from responder.store import Store, StoreUnavailable, open_store
from responder.taxonomy import builtin_taxonomy
from responder.taxonomy.models import Taxonomy

log = logging.getLogger(__name__)


def build_policy(
    settings: Settings, taxonomy: Taxonomy, store: Store
) -> tuple[PolicyEngine, RuleBook]:
    """The policy engine as configured, reading operator rules from ``store``."""
    cel = default_engine() if settings.cel_engine == "auto" else engine_named(settings.cel_engine)
    policies_dir = Path(settings.policies_dir) if settings.policies_dir else DEFAULT_POLICIES_DIR
    rulebook = RuleBook(store, taxonomy, cel, settings.rules_refresh_seconds)
    allowlist = Allowlist(
        V1_ALLOWLIST + tuple(settings.allowlist_extra), tuple(settings.shared_targets)
    )
    policy = PolicyEngine(taxonomy, PolicySet(policies_dir, cel), allowlist, rulebook.active)
    return policy, rulebook


def build_guards(
    settings: Settings,
    taxonomy: Taxonomy,
    store: Store,
    clock: Callable[[], datetime] | None = None,
) -> tuple[AutomationBook, GuardRails]:
    """Pauses and automation modes in ``store``, and the guard rails over them."""
    now = clock or (lambda: datetime.now(UTC))
    automation = AutomationBook(
        store, taxonomy.incident_types, now, settings.automation_refresh_seconds
    )
    return automation, GuardRails(store, automation, settings.section(GuardSettings), now)


def build_backends(
    settings: Settings, clock: Callable[[], datetime] | None = None
) -> tuple[list[Executor], list[Collector]]:
    """The executors and collectors the settings make available: Kubernetes
    and Helm executors always (dry-run without a cluster), their collectors
    with a cluster, probes with ``dependencies``, the error-rate collector with
    ``prometheus``, OCI with ``oci``; a backend that cannot be set up stops the
    start, naming the setting. The Kubernetes collectors and executor read
    ``clock`` (default: the wall clock), the pipeline's, for their windows."""
    from responder.actions.configs import ConfigRemedyExecutor
    from responder.actions.controllers import ControllerExecutor
    from responder.actions.helm import HelmExecutor
    from responder.actions.jobs import BulkCleanupExecutor, RecoveryJobExecutor
    from responder.actions.kubernetes import KubernetesExecutor
    from responder.actions.networking import IngressExecutor
    from responder.actions.workloads import WorkloadExecutor
    from responder.evidence.helm import HelmDriftCollector
    from responder.evidence.ingress import IngressCollector
    from responder.evidence.node_collectors import DiskPressureCollector, NodeReadinessCollector
    from responder.evidence.scope_targets import ScopeTargetCollector
    from responder.evidence.workload_collectors import ImagePullCollector, JobBacklogCollector
    from responder.kube import load_kube

    now = clock or (lambda: datetime.now(UTC))
    kube = load_kube(settings.kubeconfig)
    remedies = settings.remedies
    executors: list[Executor] = [
        KubernetesExecutor(kube, clock=now),
        WorkloadExecutor(kube),
        ControllerExecutor(kube, remedies.shared_controllers, remedies.subsystems),
        # inside the runner's deadline, so that Helm's own cancellation is what ends it
        HelmExecutor(kube, settings.kubeconfig, 0.8 * settings.action_timeout_seconds),
        IngressExecutor(kube, clock=now),
        ConfigRemedyExecutor(kube, remedies.ldap, remedies.database),
        RecoveryJobExecutor(kube, remedies.recovery_jobs, clock=now),
        BulkCleanupExecutor(kube, remedies.bulk_cleanup, clock=now),
    ]
    collectors: list[Collector] = []
    if kube is not None:
        collectors += [
            DiskPressureCollector(kube, clock=now),
            NodeReadinessCollector(kube, clock=now),
            ImagePullCollector(kube, clock=now, registry_mirror=settings.remedies.registry_mirror),
            JobBacklogCollector(kube, clock=now, shared_controllers=remedies.shared_controllers),
            HelmDriftCollector(kube, clock=now),
            IngressCollector(kube, clock=now),
            ScopeTargetCollector(kube, clock=now),
        ]
    if settings.dependencies:
        collectors.append(ProbeCollector(settings.dependencies))
    if remedies.database is not None or remedies.ldap is not None:
        collectors.append(RemedyTargetCollector(remedies))
    if settings.prometheus is not None:
        collectors.append(error_rate_collector(settings.prometheus, now))
    if settings.oci is not None:
        from responder.actions.oci_workers import RebootWorker, ReplaceWorker
        from responder.evidence.oci_instances import KubeNodes, OciInstanceCollector
        from responder.oci_clients import ProviderIdInstances, build_clients

        try:
            clients = build_clients(settings.oci)
        except Exception as exc:
            raise RuntimeError(f"settings oci: cannot build the OCI clients: {exc}") from exc
        nodes = KubeNodes(kube) if kube is not None else None
        instances = ProviderIdInstances(
            read_provider_id=nodes.provider_id if nodes else None,
            static=settings.oci.node_instances,
        )
        executors += [RebootWorker(clients, instances), ReplaceWorker(clients, instances)]
        collectors.append(
            OciInstanceCollector(
                clients.compute, instances, nodes.ready if nodes else lambda node: None
            )
        )
    return executors, collectors


def build_feasibility(settings: Settings, taxonomy: Taxonomy, store: Store) -> Feasibility:
    """What can run here, from the executors the settings configure."""
    executors, _ = build_backends(settings)
    fallbacks = [
        *builtin_executors(store, taxonomy, functools.partial(datetime.now, UTC)),
        *executors,
    ]
    return Feasibility(taxonomy, ExecutorRegistry(taxonomy, fallbacks=fallbacks))


def error_rate_collector(
    settings: PrometheusSettings, clock: Callable[[], datetime]
) -> ErrorRateCollector:
    """The HTTP error-rate collector reading ``settings``' Prometheus; its
    bearer token is read from the environment now."""
    token = None
    if settings.bearer_token_env:
        token = os.environ.get(settings.bearer_token_env)
        if not token:
            raise RuntimeError(
                f"settings prometheus: bearer_token_env names {settings.bearer_token_env}, "
                "which is not set"
            )
    api = PrometheusApi(settings.url, settings.timeout_seconds, token)
    return ErrorRateCollector(api=api, settings=settings, clock=clock)


def build_runtime(
    settings: Settings,
    store: Store | None = None,
    executors: Iterable[Executor] = (),
    collectors: Iterable[Collector] = (),
    clock: Callable[[], datetime] | None = None,
) -> Runtime:
    """Load and validate everything a responder needs; raises on a bad catalogue.

    ``executors`` and ``collectors`` come on top of the ones the settings
    configure (``build_backends``); an extra executor takes its actions over
    from a configured one, which keeps the others. ``clock`` replaces the wall clock (tests)."""
    now = clock or (lambda: datetime.now(UTC))
    taxonomy = builtin_taxonomy()
    store = store or open_store(settings.store_url, settings.store_namespace)

    def domain_of(type_id: str) -> str:
        known = taxonomy.incident_types.get(type_id)
        return known.domain if known else "unclassified"

    metrics = Metrics(lambda: store, domain_of)
    classifier = build_classifier(taxonomy, settings.alertname_map)
    policy, rulebook = build_policy(settings, taxonomy, store)
    automation, guards = build_guards(settings, taxonomy, store, now)
    configured, configured_collectors = build_backends(settings, now)

    def process_health_alert(payload: WebhookPayload) -> object:
        # a channel reports its health through the pipeline, which is built
        # after the channels it notifies through
        return pipeline.process(payload)

    chatops = build_chatops(
        settings.section(ChatOpsSettings),
        store,
        metrics,
        now,
        rule_policies(policy, now),
        guards,
        on_health=ChannelFailureReporter(process_health_alert),
    )
    if chatops.chat_channels:
        configured.append(ChannelFailover(chatops.notifier.delivery, now))
    registry = ExecutorRegistry(
        taxonomy, executors, fallbacks=[*builtin_executors(store, taxonomy, now), *configured]
    )
    approvals = ApprovalRequests(
        store,
        taxonomy,
        metrics,
        settings.approval_expiry_seconds,
        now,
        expiry_overrides=settings.approval_expiry_per_action,
        listeners=[chatops.notifier.approval_requested],
    )
    runner = ActionRunner(
        store, taxonomy, registry, settings.section(ActionSettings), metrics, approvals, now
    )
    health = [ChannelHealthCollector(store, chatops.chat_channels)] if chatops.chat_channels else []
    observer = Observer(
        CollectorRegistry([*configured_collectors, *collectors, *health]),
        settings.collector_timeout_seconds,
        settings.collector_concurrency,
    )
    timings = Timings(settings.section(TimingSettings), taxonomy)
    decide = DecideStage(policy, SeverityRules(taxonomy, policy.engine))
    notify = NotifyStage(chatops.notifier, metrics)
    observe = ObserveStage(observer)
    feasibility = Feasibility(taxonomy, registry)
    stages = Stages(
        correlate=CorrelateStage(
            taxonomy, settings.environment, metrics, timings, decide.cooldown_override
        ),
        observe=observe,
        escalate=EscalationStage(
            taxonomy, timings, approvals.for_incident, settings.ladder_holds_asks
        ),
        decide=decide,
        feasibility=FeasibilityStage(feasibility),
        guard=GuardStage(guards, NodeStorms(store, now, notify.notify)),
        notify=notify,
        act=ActStage(runner, store),
        ask=AskStage(approvals, feasibility),
        record_runs=RecordRunsStage(),
    )
    # evidence is collected under the incident's lock: the lock outlives it
    lock_ttl = max(LOCK_TTL_SECONDS, settings.collector_timeout_seconds + 5.0)
    pipeline = Pipeline(
        store, taxonomy, classifier, metrics, stages, str(settings.environment), now, lock_ttl
    )
    indexer = PipelineIndexer(settings.blocking_alerts, timings, observe.serves_type)
    store.use_index(indexer)
    scheduler = Scheduler(store, pipeline, indexer, timings, metrics, chatops.notifier, now)
    answers = ApprovalAnswers(
        store,
        approvals,
        runner,
        pipeline,
        metrics,
        now,
        announce=chatops.notifier.approval_answered,
        notify=chatops.notifier.incident,
        lock_ttl_seconds=lock_ttl,
        guards=guards,
    )
    worker = QueueWorker(
        store,
        pipeline,
        scheduler,
        settings.section(QueueSettings),
        metrics,
        waiting=answers.run_waiting,
    )
    return Runtime(
        settings=settings,
        taxonomy=taxonomy,
        store=store,
        metrics=metrics,
        classifier=classifier,
        pipeline=pipeline,
        scheduler=scheduler,
        worker=worker,
        policy=policy,
        rules=rulebook,
        executors=registry,
        feasibility=feasibility,
        approval_requests=approvals,
        runner=runner,
        observer=observer,
        accounts=Accounts(store, settings.section(AccountSettings)),
        chatops=chatops,
        approval_answers=answers,
        approvers=ApproverDirectory(settings.approvers),
        automation=automation,
        guards=guards,
        marks=MarkBook(
            store,
            automation,
            settings.promotion_bar,
            metrics,
            now,
            cannot_run=feasibility.cannot_run,
        ),
    )


def slack_socket(
    runtime: Runtime, commands: SlackCommands, chat: ChatCallbacks
) -> SocketModeLink | None:
    """The Socket Mode link when ``channels.slack.mode`` is socket (and Slack is set up)."""
    slack, config = runtime.chatops.slack, runtime.settings.channels.slack
    token = runtime.settings.slack_app_token
    if slack is None or config is None or config.mode != "socket" or not token:
        return None
    return SocketModeLink(
        runtime.store,
        token,
        slack.client,
        on_command=lambda payload: commands.answer_later(SlashCommand.of(payload)),
        on_interaction=chat.slack_socket_press,
    )


def create_app(settings: Settings, runtime: Runtime | None = None) -> Starlette:
    runtime = runtime or build_runtime(settings)
    mcp = McpHttp(runtime)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        asyncio.get_running_loop().set_exception_handler(QuietLoopErrors())
        log.info("robot-sre starting: %s", runtime.settings.redacted())
        if runtime.settings.effective_dry_run:
            log.info("dry-run mode: actions are planned and recorded, never applied")
        with contextlib.suppress(StoreUnavailable):
            volatile = await asyncio.to_thread(runtime.store.volatility)
            if volatile:
                log.warning("%s", volatile)
        log.info("executors for: %s", ", ".join(sorted(runtime.executors.actions)) or "none")
        log.info("collectors: %s", ", ".join(runtime.observer.collectors.names) or "none")
        chats = runtime.chatops.chat_channels
        log.info("operator channels: in_app%s", "".join(f", {c}" for c in chats))
        await asyncio.to_thread(runtime.chatops.start)
        if bot is not None:
            await asyncio.to_thread(bot.start)
        if socket is not None:
            socket.start()
        settings = runtime.settings
        if settings.alertmanager_url and settings.blocking_alerts:
            await asyncio.to_thread(
                seed_blocking_alerts,
                settings.alertmanager_url,
                settings.blocking_alerts,
                runtime.pipeline,
            )
        task = asyncio.create_task(runtime.worker.run(), name="queue-worker")
        try:
            async with mcp.running():
                yield
        finally:
            runtime.worker.stop()
            try:
                await asyncio.wait_for(task, timeout=10)
            except (asyncio.CancelledError, TimeoutError):
                pass
            except Exception:
                log.exception("queue worker ended with an error")
            finally:
                if socket is not None:
                    await asyncio.to_thread(socket.stop)
                await asyncio.to_thread(runtime.chatops.close)
                runtime.store.close()

    settings = runtime.settings
    incidents = IncidentsApi(runtime.store, runtime.taxonomy, settings.escalation_window_seconds)
    taxonomy = TaxonomyApi(runtime.taxonomy)
    policy = PolicyApi(runtime.policy, runtime.guards, runtime.feasibility)
    rules = RulesApi(runtime.rules)
    audit = AuditApi(runtime.store)
    automation = AutomationApi(runtime.automation, runtime.marks, runtime.taxonomy)
    approvals = ApprovalsApi(
        runtime.approval_requests,
        runtime.approval_answers,
        runtime.approvers,
        runtime.accounts,
        runtime.chatops,
        str(settings.environment),
    )
    # one console for both platforms; its linked identities answer approvals too
    console = Console(runtime, runtime.automation.clock)
    presses = ChatPresses(
        runtime.store,
        console.identities,
        runtime.approval_answers,
        runtime.chatops.notifier,
        runtime.marks,
        runtime.automation,
        settings.chat_pause_minutes,
    )
    bot = telegram_bot(runtime, presses, console)
    slack_settings = settings.channels.slack
    commands = SlackCommands(console, slack_settings.timeout_seconds if slack_settings else 5.0)
    chat = ChatCallbacks(
        presses,
        runtime.chatops,
        runtime.store,
        runtime.metrics,
        telegram_bot=bot,
        commands=commands,
        command_reply_seconds=slack_settings.command_reply_seconds if slack_settings else 2.5,
    )
    socket = slack_socket(runtime, commands, chat)
    operations = Operations(
        runtime.store,
        runtime.worker,
        runtime.metrics,
        settings.environment,
        settings.allow_volatile_store,
    )
    webhook = AlertmanagerWebhook(
        runtime.store, runtime.worker, settings.section(WebhookSettings), runtime.metrics
    )
    routes = [
        Route("/webhooks/alertmanager", webhook.handle, methods=["POST"]),
        Route("/api/v1/incidents", incidents.list_incidents, methods=["GET"]),
        Route("/api/v1/incidents/{incident_id}", incidents.get_incident, methods=["GET"]),
        Route("/api/v1/taxonomy", taxonomy.get_taxonomy, methods=["GET"]),
        Route("/api/v1/policy/explain", policy.explain_decision, methods=["POST"]),
        Route("/api/v1/rules", rules.list_rules, methods=["GET"]),
        Route("/api/v1/rules", rules.create_rule, methods=["POST"]),
        Route("/api/v1/rules/{rule_id}", rules.get_rule, methods=["GET"]),
        Route("/api/v1/rules/{rule_id}", rules.update_rule, methods=["PUT"]),
        Route("/api/v1/rules/{rule_id}", rules.delete_rule, methods=["DELETE"]),
        Route("/api/v1/rules/{rule_id}/history", rules.rule_history, methods=["GET"]),
        Route("/api/v1/rules/{rule_id}/clone", rules.clone_rule, methods=["POST"]),
        Route("/api/v1/audit", audit.list_audit, methods=["GET"]),
        Route("/api/v1/automation/pause", automation.list_pauses, methods=["GET"]),
        Route("/api/v1/automation/pause", automation.create_pause, methods=["POST"]),
        Route("/api/v1/automation/pause/{pause_id}", automation.resume_pause, methods=["DELETE"]),
        Route("/api/v1/automation/modes", automation.get_modes, methods=["GET"]),
        Route("/api/v1/automation/modes", automation.put_modes, methods=["PUT"]),
        Route("/api/v1/automation/readiness", automation.get_readiness, methods=["GET"]),
        Route("/api/v1/incidents/{incident_id}/mark", automation.mark_incident, methods=["POST"]),
        Route("/api/v1/approvals", approvals.list_approvals, methods=["GET"]),
        Route("/api/v1/approvals/{approval_id}/approve", approvals.approve, methods=["POST"]),
        Route("/api/v1/approvals/{approval_id}/deny", approvals.deny, methods=["POST"]),
        Route("/webhooks/slack/interactions", chat.slack_interactions, methods=["POST"]),
        Route("/webhooks/slack/commands", chat.slack_commands, methods=["POST"]),
        Route("/webhooks/telegram", chat.telegram_updates, methods=["POST"]),
        Route("/healthz", operations.healthz, methods=["GET"]),
        Route("/readyz", operations.readyz, methods=["GET"]),
        Route("/metrics", operations.metrics_text, methods=["GET"]),
        Route("/runbooks/{name}", Runbooks(settings.runbooks_dir).runbook, methods=["GET"]),
        Mount("/admin", create_admin_app(runtime)),
        # the MCP server (streamable HTTP), behind API tokens with the mcp scope
        Route("/mcp", mcp, methods=["GET", "POST", "DELETE"]),
    ]
    routes.append(Route("/openapi.json", OpenApi(routes).serve, methods=["GET"]))
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(RequestLimit, limit=runtime.settings.max_requests_in_flight),
            Middleware(ApiAuth),
        ],
    )
    app.state.runtime = runtime
    app.state.accounts = runtime.accounts  # who is asking: sessions, tokens, proxies
    return app
