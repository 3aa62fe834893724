"""The services one responder process holds, shared by its handlers."""

from __future__ import annotations

from dataclasses import dataclass

from responder.accounts.service import Accounts
from responder.actions.feasibility import Feasibility
from responder.actions.registry import ExecutorRegistry
from responder.actions.runner import ActionRunner
from responder.approvals.answers import ApprovalAnswers
from responder.approvals.approvers import ApproverDirectory
from responder.approvals.requests import ApprovalRequests
from responder.channels.build import ChatOps
from responder.evidence.observer import Observer
from responder.guards.automation import AutomationBook
from responder.guards.rails import GuardRails
from responder.guards.readiness import MarkBook
from responder.incidents.classify import Classifier
from responder.ingest.worker import QueueWorker
from responder.metrics import Metrics
from responder.pipeline.runner import Pipeline
from responder.pipeline.schedule import Scheduler
from responder.policy.engine import PolicyEngine
from responder.policy.rulebook import RuleBook
from responder.settings import Settings
from responder.store import Store
from responder.taxonomy.models import Taxonomy


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    taxonomy: Taxonomy
    store: Store
    metrics: Metrics
    classifier: Classifier
    pipeline: Pipeline
    scheduler: Scheduler
    policy: PolicyEngine
    rules: RuleBook
    worker: QueueWorker
    executors: ExecutorRegistry
    feasibility: Feasibility
    approval_requests: ApprovalRequests
    runner: ActionRunner
    observer: Observer
    chatops: ChatOps
    approval_answers: ApprovalAnswers
    approvers: ApproverDirectory
    accounts: Accounts
    automation: AutomationBook
    guards: GuardRails
    marks: MarkBook
