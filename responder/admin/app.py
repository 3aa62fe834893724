"""The admin UI: a Starlette sub-app mounted at ``/admin``."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from responder.admin import (
    account_pages,
    approval_pages,
    audit_pages,
    automation_pages,
    channel_pages,
    incident_pages,
    policy_pages,
    rule_pages,
)
from responder.admin.render import SecurityHeaders, build_templates
from responder.admin.services import AdminServices
from responder.admin.static import HashedStatic
from responder.policy.severity import SeverityRules
from responder.runtime import Runtime

POST = ["POST"]


def create_admin_app(runtime: Runtime) -> Starlette:
    static = HashedStatic()
    routes = [
        Route("/", account_pages.home),
        Route("/static/{name}", static.serve),
        Route("/login", account_pages.login_form),
        Route("/login", account_pages.login, methods=POST),
        Route("/logout", account_pages.logout, methods=POST),
        Route("/account", account_pages.account_page),
        Route("/account/chat-link", account_pages.chat_link_code, methods=POST),
        Route("/rules", rule_pages.rules_list),
        Route("/rules/{rule_id}", rule_pages.rule_detail),
        Route("/rules/{rule_id}", rule_pages.rule_save, methods=POST),
        Route("/rules/{rule_id}/preview", rule_pages.rule_preview, methods=POST),
        Route("/rules/{rule_id}/backtest", rule_pages.rule_backtest, methods=POST),
        Route("/rules/{rule_id}/clone", rule_pages.rule_clone, methods=POST),
        Route("/rules/{rule_id}/environments", rule_pages.rule_environment, methods=POST),
        Route("/rules/{rule_id}/history", rule_pages.rule_history),
        Route("/rules/{rule_id}/revert", rule_pages.rule_revert, methods=POST),
        Route("/incidents", incident_pages.incidents_list),
        Route("/incidents/{incident_id}", incident_pages.incident_detail),
        Route("/incidents/{incident_id}/mark", incident_pages.incident_mark, methods=POST),
        Route("/approvals", approval_pages.approvals_page),
        Route("/approvals/{approval_id}/approve", approval_pages.approval_approve, methods=POST),
        Route("/approvals/{approval_id}/deny", approval_pages.approval_deny, methods=POST),
        Route("/automation", automation_pages.automation_page),
        Route("/automation/pause", automation_pages.pause_create, methods=POST),
        Route("/automation/pause/{pause_id}/resume", automation_pages.pause_resume, methods=POST),
        Route("/automation/modes", automation_pages.modes_set, methods=POST),
        Route("/automation/promote", automation_pages.promote, methods=POST),
        Route("/channels", channel_pages.channels_page),
        Route("/channels/{channel}/test", channel_pages.channel_test, methods=POST),
        Route("/policy", policy_pages.policy_page),
        Route("/audit", audit_pages.audit_page),
        Route("/audit/export.csv", audit_pages.audit_export),
        Route("/audit/export.json", audit_pages.audit_export),
        Route("/users", account_pages.users_page),
        Route("/users", account_pages.user_create, methods=POST),
        Route("/users/{username}", account_pages.user_update, methods=POST),
        Route("/tokens", account_pages.tokens_page),
        Route("/tokens", account_pages.token_create, methods=POST),
        Route("/tokens/{token_id}/revoke", account_pages.token_revoke, methods=POST),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)])
    app.state.runtime = runtime
    app.state.accounts = runtime.accounts  # who is asking: sessions, tokens, proxies
    app.state.admin = AdminServices(
        runtime=runtime,
        accounts=runtime.accounts,
        templates=build_templates(),
        static=static,
        severity_rules=SeverityRules(runtime.taxonomy, runtime.policy.engine),
    )
    return app
