"""The MCP server (official ``mcp`` SDK): the tools with JSON Schema inputs
and structured outputs, the resources and the prompts.

One server serves both transports: over HTTP the caller is the request's API
token, checked again for every call; over stdio it is the token the command
was started with."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Annotated, Any, Literal, NotRequired, cast

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

# pydantic needs typing_extensions' TypedDict below Python 3.12
from typing_extensions import TypedDict

from responder.accounts.models import ApiToken
from responder.api.taxonomy import taxonomy_document
from responder.mcp.frame import CONTRACT_VERSION, Caller, ToolFailure
from responder.mcp.tools import McpTools
from responder.runtime import Runtime

SCOPE = "mcp"

INSTRUCTIONS = (
    "Robot SRE: read incidents, evidence, decisions and policy; collect evidence again; "
    "note on an incident; propose an action, which the policy engine decides on the "
    "incident's current evidence (auto runs through the normal executor, approval asks a "
    "person, human_only/off is refused with the trace); read the promotion readiness and "
    "the active pauses. Nothing here approves, marks, pauses, edits policies, rules or "
    "automation modes, runs commands or returns secrets."
)

IncidentId = Annotated[str, Field(description="the incident's id", min_length=1, max_length=200)]
StateName = Literal[
    "observed", "triaged", "contained", "recovering", "resolved", "suppressed", "escalated"
]
EnvironmentName = Literal["demo", "staging", "production"]
SeverityName = Literal["info", "warning", "critical"]
ConfidenceName = Literal["low", "medium", "high"]
TargetText = Annotated[
    str,
    Field(
        description="KIND/NAMESPACE/NAME, or KIND/NAME when cluster-scoped "
        "(e.g. cronjob/trivy-system/trivy-db-warmup, node/worker-1)",
        min_length=3,
        max_length=400,
    ),
]

READ = ToolAnnotations(readOnlyHint=True, destructiveHint=False, openWorldHint=False)
OBSERVE = ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=True)
NOTE = ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=False)
PROPOSE = ToolAnnotations(readOnlyHint=False, destructiveHint=True, idempotentHint=False)

CallerOf = Callable[[Context], Caller]


class LayerTrace(TypedDict):
    layer: str
    decision: str | None
    reason: str


class Trace(TypedDict):
    """The explain contract's answer for the proposed action and target."""

    decision: str
    action: str
    action_class: str
    reason: str
    target: dict[str, str] | None
    layers: list[LayerTrace]


class RunResult(TypedDict):
    result: str
    detail: str


class Proposal(TypedDict):
    """What became of a proposal. ``outcome``: executed | skipped (the runner
    did not act: cooldown, lock, …) | approval_requested | already_pending |
    not_asked (a person denied it for this incident) | refused."""

    outcome: str
    detail: NotRequired[str]
    incident_id: str
    action: str
    target: dict[str, str]
    decision: NotRequired[str | None]
    confidence: NotRequired[str]
    trace: NotRequired[Trace]
    approval_id: NotRequired[str | None]
    why_now: NotRequired[str]
    runs: NotRequired[list[RunResult]]


Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
ModeName = Literal["off", "shadow", "approval", "auto"]


class PromotionBar(TypedDict):
    """What a class must show before a person promotes its mode (settings
    ``promotion_bar``)."""

    min_shadow_decisions: int
    min_agreement: float
    rollback_free_days: int


class ReadinessRow(TypedDict):
    """One incident type x environment: its evidence and whether it meets the bar."""

    incident_type: str
    environment: EnvironmentName
    mode: ModeName
    shadow_decisions: int
    marked: int
    agreement_rate: float | None
    false_positive_rate: float | None
    rollbacks: int
    last_rollback_at: Timestamp | None
    ready: bool
    missing: list[str]
    bar: PromotionBar


class Readiness(TypedDict):
    """The answer of GET /api/v1/automation/readiness."""

    bar: PromotionBar
    classes: list[ReadinessRow]


class PauseRecord(TypedDict):
    """An active pause; a scope field left null matches everything."""

    id: str
    reason: str
    environment: EnvironmentName | None
    incident_type: str | None
    namespace: str | None
    created_by: str
    created_at: Timestamp
    expires_at: Timestamp
    scope: str


class Pauses(TypedDict):
    """The answer of GET /api/v1/automation/pause."""

    pauses: list[PauseRecord]
    count: int


def token_caller(token: ApiToken | None) -> Caller | None:
    """The caller a token makes, or None when it may not use MCP."""
    if token is None or not token.names_scope(SCOPE):
        return None
    return Caller(client=token.name, role=token.role)


def http_or(fixed: Caller | None, runtime: Runtime) -> CallerOf:
    """The caller: the bearer token of the HTTP request, else ``fixed`` (stdio)."""

    def caller_of(ctx: Context) -> Caller:
        headers = ctx.headers
        if headers is None:
            if fixed is None:
                raise ToolError("no caller: start robot-sre mcp with a token")
            return fixed
        scheme, _, credential = headers.get("authorization", "").partition(" ")
        accounts = runtime.accounts
        token = accounts.tokens.verify(credential.strip()) if scheme.lower() == "bearer" else None
        found = token_caller(token)
        if found is None:
            raise ToolError("this token may not use MCP (it needs the mcp scope)")
        return found

    return caller_of


def build_server(
    runtime: Runtime, tools: McpTools | None = None, caller: Caller | None = None
) -> MCPServer:
    """The MCP server over ``runtime``; ``caller`` is the stdio caller."""
    tools = tools or McpTools(runtime)
    caller_of = http_or(caller, runtime)
    # MCPServer configures the root logger (basicConfig with its own handler);
    # the responder's logging stays as the command set it up
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        server = MCPServer(
            name="robot-sre",
            title="Robot SRE",
            version=CONTRACT_VERSION,
            instructions=INSTRUCTIONS,
            warn_on_duplicate_tools=False,
        )
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)

    async def run(ctx: Context, call: Callable[[Caller], dict[str, Any]]) -> dict[str, Any]:
        who = await anyio.to_thread.run_sync(caller_of, ctx)
        try:
            return await anyio.to_thread.run_sync(call, who)
        except ToolFailure as exc:
            raise ToolError(f"{exc.outcome}: {exc.message}") from exc

    # read

    @server.tool(annotations=READ, structured_output=True)
    async def list_incidents(
        ctx: Context,
        state: StateName | None = None,
        incident_type: str | None = None,
        environment: EnvironmentName | None = None,
        limit: Annotated[int, Field(ge=1, le=500)] = 100,
        offset: Annotated[int, Field(ge=0)] = 0,
    ) -> dict[str, Any]:
        """Incidents, newest first, filtered as GET /api/v1/incidents (state, type,
        environment, limit, offset)."""
        return await run(
            ctx,
            lambda c: tools.list_incidents(c, state, incident_type, environment, limit, offset),
        )

    @server.tool(annotations=READ, structured_output=True)
    async def get_incident(ctx: Context, incident_id: IncidentId) -> dict[str, Any]:
        """One incident: its record, alerts, evidence (signals, summary,
        confidence), policy decisions with their layer traces, and timeline.
        Secret values are redacted."""
        return await run(ctx, lambda c: tools.get_incident(c, incident_id))

    @server.tool(annotations=READ, structured_output=True)
    async def get_incident_type(
        ctx: Context,
        incident_type: Annotated[str, Field(description="taxonomy id, e.g. node_disk_pressure")],
    ) -> dict[str, Any]:
        """A taxonomy incident type: signals, candidate actions, policy binding,
        severity rules, cooldowns, exit criteria."""
        return await run(ctx, lambda c: tools.get_incident_type(c, incident_type))

    @server.tool(annotations=READ, structured_output=True)
    async def get_policy_matrix(ctx: Context) -> dict[str, Any]:
        """The policy matrix per incident type (auto observe/notify/contain,
        approval required, human only)."""
        return await run(ctx, tools.get_policy_matrix)

    @server.tool(annotations=READ, structured_output=True)
    async def explain_decision(
        ctx: Context,
        incident_type: str,
        environment: EnvironmentName,
        confidence: ConfidenceName,
        action: str,
        severity: SeverityName = "warning",
        target: TargetText | None = None,
        labels: dict[str, str] | None = None,
        facts: dict[str, bool | int] | None = None,
    ) -> dict[str, Any]:
        """The explain contract (same answer as POST /api/v1/policy/explain and
        robot-sre explain --json): the decision for a hypothetical incident
        and action, with every layer's contribution."""
        body: dict[str, Any] = {
            "incident_type": incident_type,
            "environment": environment,
            "severity": severity,
            "confidence": confidence,
            "action": action,
            "target": target,
            "labels": labels,
            "facts": facts,
        }
        return await run(ctx, lambda c: tools.explain_decision(c, body))

    @server.tool(annotations=READ, structured_output=True)
    async def list_rules(ctx: Context) -> dict[str, Any]:
        """The operator rules (built-in and custom), as saved."""
        return await run(ctx, tools.list_rules)

    @server.tool(annotations=READ, structured_output=True)
    async def list_approvals(
        ctx: Context,
        incident_id: str | None = None,
        state: Literal["pending", "approved", "denied", "expired", "superseded", "executed"]
        | None = None,
    ) -> dict[str, Any]:
        """Approval requests (all, or one incident's), with their state. Read only:
        no tool answers an approval."""
        return await run(ctx, lambda c: tools.list_approvals(c, incident_id, state))

    @server.tool(annotations=READ, structured_output=True)
    async def get_audit(
        ctx: Context,
        subject: Annotated[str | None, Field(description="e.g. incident:<id>, rule:<id>")] = None,
        limit: Annotated[int, Field(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """The audit log, newest first: who changed or decided what, when."""
        return await run(ctx, lambda c: tools.get_audit(c, subject, limit))

    @server.tool(annotations=READ, structured_output=True)
    async def draft_rule(
        ctx: Context,
        rule: Annotated[
            dict[str, Any],
            Field(description="an operator rule body, as POST /api/v1/rules takes it"),
        ],
        severity: SeverityName | None = None,
        confidence: ConfidenceName = "high",
    ) -> dict[str, Any]:
        """Validate an operator rule as a save would and preview its decisions
        (before/after per candidate action and environment, like the admin UI's
        preview). Never saves."""
        return await run(ctx, lambda c: tools.draft_rule(c, rule, severity, confidence))

    @server.tool(annotations=READ, structured_output=True)
    async def automation_readiness(
        ctx: Context,
        incident_type: Annotated[
            str | None, Field(description="taxonomy id, e.g. node_disk_pressure", max_length=100)
        ] = None,
        environment: EnvironmentName | None = None,
    ) -> Readiness:
        """Promotion readiness, as GET /api/v1/automation/readiness: the bar and,
        per incident type and environment, shadow decisions, marks, agreement and
        false-positive rates, rollbacks, and what is missing to meet the bar.
        Read only: no tool marks incidents or changes a mode."""
        answer = await run(ctx, lambda c: tools.automation_readiness(c, incident_type, environment))
        return cast(Readiness, answer)

    @server.tool(annotations=READ, structured_output=True)
    async def automation_pauses(ctx: Context) -> Pauses:
        """The automation pauses in force (as GET /api/v1/automation/pause), each
        with its scope, reason, author and expiry. Read only: no tool pauses or
        resumes."""
        return cast(Pauses, await run(ctx, tools.automation_pauses))

    # observe, notify, propose

    @server.tool(annotations=OBSERVE, structured_output=True)
    async def collect_evidence(ctx: Context, incident_id: IncidentId) -> dict[str, Any]:
        """Re-run the incident type's read-only evidence collectors; the new
        signals and confidence are kept on the incident."""
        return await run(ctx, lambda c: tools.collect_evidence(c, incident_id))

    @server.tool(annotations=NOTE, structured_output=True)
    async def add_incident_note(
        ctx: Context,
        incident_id: IncidentId,
        text: Annotated[str, Field(min_length=1, max_length=2000)],
    ) -> dict[str, Any]:
        """Append a note to the incident's timeline (and its chat thread when
        channels are configured), marked as written by mcp:<client>."""
        return await run(ctx, lambda c: tools.add_incident_note(c, incident_id, text))

    @server.tool(annotations=PROPOSE, structured_output=True)
    async def propose_action(
        ctx: Context,
        incident_id: IncidentId,
        action: Annotated[str, Field(description="an action id of the taxonomy")],
        target: TargetText,
        rationale: Annotated[str, Field(min_length=1, max_length=1000)],
    ) -> Proposal:
        """Propose an action; the policy engine decides on the incident's current
        evidence: auto runs it through the normal executor path (cooldowns,
        locks; high confidence only), approval creates an approval request
        with the rationale in "why now", human_only/off is refused with the
        trace. Rate limited per client."""
        answer = await run(
            ctx, lambda c: tools.propose_action(c, incident_id, action, target, rationale)
        )
        return cast(Proposal, answer)

    # resources

    @server.resource("robot-sre://taxonomy", name="taxonomy", mime_type="application/json")
    def taxonomy_resource() -> str:
        """Domains, incident types, actions and the policy matrix."""
        return json.dumps(taxonomy_document(runtime.taxonomy))

    @server.resource("robot-sre://policies", name="policies", mime_type="application/json")
    def policies_resource() -> str:
        """The CEL policy files (defaults, environments, hard constraints) by path."""
        return json.dumps(tools.policy_files())

    @server.resource(
        "robot-sre://incidents/{incident_id}", name="incident", mime_type="application/json"
    )
    def incident_resource(incident_id: str) -> str:
        """One incident record (secrets redacted)."""
        try:
            return json.dumps(tools.incident_record(incident_id))
        except ToolFailure as exc:
            raise ValueError(exc.message) from exc

    # prompts

    @server.prompt()
    def triage_incident(incident_id: str) -> str:
        """Triage an incident within the policy boundaries."""
        return (
            f"Triage Robot SRE incident {incident_id}. Read it with get_incident and its "
            "type with get_incident_type. If the evidence is stale, call collect_evidence. "
            "Say what is happening, how confident the evidence is and which candidate "
            "actions the policy allows (explain_decision). If an action would help, call "
            "propose_action with a short rationale; the policy engine decides, and a "
            "refusal is final: never look for a way around it. Record your conclusion "
            "with add_incident_note."
        )

    @server.prompt()
    def summarize_incident(incident_id: str) -> str:
        """Summarise an incident for the operators."""
        return (
            f"Summarise Robot SRE incident {incident_id} for an operator in five lines: "
            "what fired, on which resource, the evidence and its confidence, what the "
            "robot did (executed actions) and what waits for a person (list_approvals). "
            "Use get_incident; do not guess anything it does not say."
        )

    @server.prompt()
    def postmortem_draft(incident_id: str) -> str:
        """Draft a postmortem from the incident's record."""
        return (
            f"Draft a blameless postmortem for Robot SRE incident {incident_id} from "
            "get_incident (timeline, decisions with traces, executed actions), "
            "list_approvals and get_audit (subject incident:<id>). Sections: summary, "
            "impact, timeline, detection, response (what the robot did, what people "
            "approved or denied and why), what went well, what to improve, follow-ups "
            "(policy or rule changes go through draft_rule for a preview, never saved "
            "from here)."
        )

    return server
