"""The tools' schemas are a contract: a change to any tool's name, input or
output schema or hints must come with a new ``CONTRACT_VERSION`` (and its
snapshot, ``tests/mcp_server/contract/v<N>.json``; write it with
``ROBOT_SRE_WRITE_MCP_SNAPSHOT=1 pytest tests/mcp_server/test_mcp_contract.py``).
docs/mcp.md lists every tool."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anyio
import pytest
from fixtures.rigs import Responder

from responder.mcp.frame import CONTRACT_VERSION, TOOL_ROLES
from responder.mcp.server import build_server
from responder.settings import Settings

HERE = Path(__file__).resolve().parent
DOCS = HERE.parents[1] / "docs" / "mcp.md"


def current(tmp: Path) -> dict[str, Any]:
    settings = Settings.model_validate({"store_url": f"sqlite:///{tmp}/contract.db"})
    rig = Responder(settings=settings)
    try:
        tools = anyio.run(build_server(rig.runtime).list_tools)
    finally:
        rig.store.close()
    return {
        tool.name: {
            "input_schema": tool.input_schema,
            "output_schema": tool.output_schema,
            "annotations": tool.annotations.model_dump(mode="json") if tool.annotations else None,
        }
        for tool in sorted(tools, key=lambda t: t.name)
    }


def test_schemas_change_only_with_the_contract_version(tmp_path: Path) -> None:
    snapshot = HERE / "contract" / f"v{CONTRACT_VERSION}.json"
    found = current(tmp_path)
    if os.environ.get("ROBOT_SRE_WRITE_MCP_SNAPSHOT") == "1":
        snapshot.write_text(json.dumps(found, indent=2, sort_keys=True) + "\n")
    if not snapshot.exists():
        pytest.fail(f"no snapshot for MCP contract version {CONTRACT_VERSION}: {snapshot}")
    assert found == json.loads(snapshot.read_text()), (
        "an MCP tool's schema changed: bump CONTRACT_VERSION in responder/mcp/tools.py, "
        "write the new snapshot and update docs/mcp.md"
    )
    assert set(found) == set(TOOL_ROLES)


def test_the_docs_list_every_tool_and_the_version() -> None:
    text = DOCS.read_text()
    assert f"Contract version: **{CONTRACT_VERSION}**" in text
    for name in TOOL_ROLES:
        assert f"### `{name}`" in text, name
