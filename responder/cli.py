"""The ``robot-sre`` command line."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from responder.accounts.models import SCOPES
from responder.policy.engine import PolicyEngine
from responder.policy.files import PolicyError
from responder.settings import Settings, SettingsError, load_settings
from responder.store import Store
from responder.taxonomy import CatalogueError, builtin_taxonomy


def tune_interpreter() -> None:
    """A responder allocates many short-lived objects and shares one
    interpreter between its webhook and its workers: what it loaded at start
    is frozen out of the cyclic garbage collector and collections come far
    less often (a default full collection takes ~100 ms under a storm, with
    the webhook waiting), and threads take turns every 0.5 ms rather than
    every 5 ms so that a webhook never waits long behind a busy worker."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    sys.setswitchinterval(0.0005)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from responder.app import create_app
    from responder.serving import bounded_protocol, connection_cap

    settings = load_settings()
    refusal = settings.serving_refusal()
    if refusal is not None:
        raise SettingsError(refusal)
    overrides = {"host": args.host or settings.host, "port": args.port or settings.port}
    settings = settings.model_copy(update=overrides)
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    app = create_app(settings)
    tune_interpreter()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        http=bounded_protocol(
            settings.http_header_timeout_seconds, connection_cap(settings.max_connections)
        ),
        timeout_keep_alive=settings.http_keep_alive_seconds,
    )
    return 0


def _replay(args: argparse.Namespace) -> int:
    files = [Path(f) for f in args.files]
    token = args.token or os.environ.get("ROBOT_SRE_WEBHOOK_TOKEN")
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    url = args.url.rstrip("/") + "/webhooks/alertmanager"
    failed = 0
    with httpx.Client(timeout=10) as client:
        for path in files:
            response = client.post(url, content=path.read_bytes(), headers=headers)
            print(f"{path}: {response.status_code} {response.text.strip()}")
            failed += response.status_code != 200
    return 1 if failed else 0


@contextmanager
def _configured_store() -> Iterator[tuple[Settings, Store]]:
    """The settings and the store they name, closed on the way out."""
    from responder.store import open_store

    settings = load_settings()
    store = open_store(settings.store_url, settings.store_namespace)
    try:
        yield settings, store
    finally:
        store.close()


@contextmanager
def _configured_policy() -> Iterator[PolicyEngine]:
    from responder.app import build_policy

    with _configured_store() as (settings, store):
        policy, _ = build_policy(settings, builtin_taxonomy(), store)
        yield policy


def _policy_test(args: argparse.Namespace) -> int:
    from responder.policy.engine import DEFAULT_POLICIES_DIR
    from responder.policy.testcases import (
        CaseFileError,
        format_results,
        load_cases,
        results_as_json,
        run_cases,
    )

    directory = Path(args.directory) if args.directory else DEFAULT_POLICIES_DIR / "tests"
    with _configured_policy() as policy:
        try:
            results = run_cases(policy, load_cases(directory, builtin_taxonomy()))
        except CaseFileError as exc:
            print(f"robot-sre policy test: {exc}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps(results_as_json(results), indent=2))
    else:
        print(format_results(results, args.verbose))
    return 0 if all(result.passed for result in results) else 1


def _taxonomy(args: argparse.Namespace) -> int:
    from responder.api.taxonomy import taxonomy_document

    taxonomy = builtin_taxonomy()
    if args.matrix:
        from responder.policy.matrix import format_matrix, matrix_json_text, resolved_matrix

        with _configured_policy() as policy:
            matrix = resolved_matrix(policy)
        print(matrix_json_text(matrix) if args.json else format_matrix(matrix))
        return 0
    document = taxonomy_document(taxonomy)
    if args.json:
        print(json.dumps(document, indent=2))
        return 0
    print(f"Robot SRE taxonomy {taxonomy.version}")
    for domain in taxonomy.domains.values():
        print(f"\n{domain.id} — {domain.covers}")
        for incident_type in taxonomy.incident_types.values():
            if incident_type.domain != domain.id:
                continue
            print(
                f"  {incident_type.id} ({incident_type.default_severity}): "
                f"{incident_type.display_name}"
            )
            print(f"    auto:      {', '.join(incident_type.auto_allowed)}")
            print(f"    approval:  {', '.join(incident_type.approval_required) or '-'}")
            print(f"    human:     {', '.join(incident_type.human_only) or '-'}")
    return 0


def _explain(args: argparse.Namespace) -> int:
    from responder.actions.feasibility import explain_here
    from responder.app import build_feasibility, build_guards, build_policy
    from responder.policy.explain import ExplainError, parse_request

    body: dict[str, object] = {
        "incident_type": args.incident_type,
        "environment": args.environment,
        "severity": args.severity,
        "confidence": args.confidence,
        "action": args.action,
    }
    if args.target:
        body["target"] = args.target
    try:
        if args.label:
            body["labels"] = dict(_pair(item, "--label") for item in args.label)
        if args.fact:
            body["facts"] = {k: _fact_value(v) for k, v in (_pair(i, "--fact") for i in args.fact)}
    except ValueError as exc:
        print(f"robot-sre explain: {exc}", file=sys.stderr)
        return 2
    with _configured_store() as (settings, store):
        try:
            taxonomy = builtin_taxonomy()
            policy, _ = build_policy(settings, taxonomy, store)
            _, guards = build_guards(settings, taxonomy, store)
            feasibility = build_feasibility(settings, taxonomy, store)
            answer = explain_here(policy, parse_request(body), guards, feasibility)
        except ExplainError as exc:
            print(f"robot-sre explain: {exc.field}: {exc.message}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps(answer, indent=2))
        return 0
    target = answer["target"]
    where = "/".join(p for p in target.values() if p) if isinstance(target, dict) else "-"
    print(f"{answer['action']} ({answer['action_class']}) on {where}: {answer['decision']}")
    print(f"  because: {answer['reason']}")
    for layer in answer["layers"]:
        print(f"  {layer['layer']:<17} {layer['decision'] or '-':<11} {layer['reason']}")
    for note in answer.get("guards", []):
        print(f"  guard {note['guard']:<11} {note['decision']:<11} {note['reason']}")
    if answer.get("cannot_run"):
        print(f"  cannot run here: {answer['cannot_run']}")
    return 0


def _mcp(args: argparse.Namespace) -> int:
    from responder.app import build_runtime
    from responder.mcp.stdio import TOKEN_ENV, StdioRefused, serve_stdio

    if args.token_file:
        token = Path(args.token_file).read_text(encoding="utf-8")
    else:
        token = os.environ.get(TOKEN_ENV, "")
    if not token.strip():
        print(
            f"robot-sre mcp: no token: set {TOKEN_ENV} or pass --token-file "
            "(robot-sre token create --scope mcp)",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        serve_stdio(build_runtime(load_settings()), token)
    except StdioRefused as exc:
        print(f"robot-sre mcp: {exc}", file=sys.stderr)
        return 2
    return 0


def _token_create(args: argparse.Namespace) -> int:
    from responder.accounts.models import Role
    from responder.accounts.tokens import TokenBook, parse_lifetime
    from responder.accounts.users import AccountError
    from responder.store import open_store

    settings = load_settings()
    store = open_store(settings.store_url, settings.store_namespace)
    try:
        lifetime = parse_lifetime(args.expires_in or settings.token_lifetime)
        token, text = TokenBook(store).create(
            args.name,
            Role(args.role),
            args.scope or [],
            os.environ.get("USER", "cli"),
            "cli",
            lifetime,
        )
    except AccountError as exc:
        flag = exc.field.replace("_", "-")
        print(f"robot-sre token create: --{flag}: {exc.message}", file=sys.stderr)
        return 2
    finally:
        store.close()
    scopes = ", ".join(token.scopes) or "all of /api/v1 its role allows"
    expires = token.expires_at.isoformat(timespec="minutes") if token.expires_at else "never"
    print(
        f"token {token.id} {token.name!r}: role {token.role}, scopes: {scopes}, expires: {expires}"
    )
    print("shown once; store it now (only its hash is kept):")
    print(text)
    return 0


def _pair(text: str, flag: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"{flag} {text!r}: expected NAME=VALUE")
    return key, value


def _fact_value(text: str) -> bool | int:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"--fact value {text!r}: expected true, false or an integer") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="robot-sre", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the responder (default 127.0.0.1:8080)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(run=_serve)

    replay = commands.add_parser("replay", help="post webhook payload files to a responder")
    replay.add_argument("files", nargs="+", metavar="FILE")
    replay.add_argument("--url", default="http://127.0.0.1:8080")
    replay.add_argument("--token", help="bearer token (default: ROBOT_SRE_WEBHOOK_TOKEN)")
    replay.set_defaults(run=_replay)

    explain = commands.add_parser(
        "explain", help="decide a hypothetical incident and action, with every layer's reason"
    )
    explain.add_argument("--incident-type", required=True)
    explain.add_argument("--environment", required=True, choices=["demo", "staging", "production"])
    explain.add_argument("--severity", default="warning", choices=["info", "warning", "critical"])
    explain.add_argument("--confidence", required=True, choices=["low", "medium", "high"])
    explain.add_argument("--action", required=True)
    explain.add_argument("--target", help="KIND/NAMESPACE/NAME or KIND/NAME")
    explain.add_argument("--label", action="append", metavar="KEY=VALUE")
    explain.add_argument("--fact", action="append", metavar="NAME=VALUE")
    explain.add_argument("--json", action="store_true")
    explain.set_defaults(run=_explain)

    policy = commands.add_parser("policy", help="policy tools")
    policy_commands = policy.add_subparsers(dest="policy_command", required=True)
    policy_test = policy_commands.add_parser(
        "test", help="run the policy test cases (default: policies.cel/tests/)"
    )
    policy_test.add_argument("directory", nargs="?", metavar="DIR")
    policy_test.add_argument("--json", action="store_true")
    policy_test.add_argument("-v", "--verbose", action="store_true")
    policy_test.set_defaults(run=_policy_test)

    token = commands.add_parser("token", help="API tokens (Authorization: Bearer)")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    token_create = token_commands.add_parser(
        "create", help="make an API token; prints it once, alone on the last line"
    )
    token_create.add_argument("--name", required=True)
    token_create.add_argument(
        "--role", required=True, choices=["viewer", "operator", "approver", "admin"]
    )
    token_create.add_argument(
        "--scope",
        action="append",
        choices=list(SCOPES),
        help="limit the token to this part of /api/v1 (repeatable; default: all), "
        "or mcp: the MCP server, which only a token with --scope mcp may use",
    )
    token_create.add_argument(
        "--expires-in",
        metavar="LIFETIME",
        help="how long the token lives: 30m, 12h, 90d, 8w or never "
        "(default: ROBOT_SRE_TOKEN_LIFETIME, 90d)",
    )
    token_create.set_defaults(run=_token_create)

    mcp = commands.add_parser(
        "mcp", help="serve the MCP tools over stdio (token: ROBOT_SRE_MCP_TOKEN or --token-file)"
    )
    mcp.add_argument("--token-file", help="a file holding an API token with the mcp scope")
    mcp.set_defaults(run=_mcp)

    taxonomy = commands.add_parser("taxonomy", help="print the incident taxonomy")
    taxonomy.add_argument(
        "--matrix", action="store_true", help="the resolved policy matrix per environment"
    )
    taxonomy.add_argument("--json", action="store_true")
    taxonomy.set_defaults(run=_taxonomy)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except (SettingsError, CatalogueError, PolicyError) as exc:
        print(f"robot-sre: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
