"""Keep the taxonomy's part of docs/runbooks/ in step with the taxonomy.

    python scripts/runbooks.py          rewrite the generated sections
    python scripts/runbooks.py --check  exit 1 naming the runbooks out of step

Each runbook is prose a person keeps (what the alert means, where to look, how
to verify) around two sections written from the taxonomy data: "What the robot
does" (the type's auto-allowed, approval-required and human-only actions) and
"How to undo" (each action's rollback), between marker comments.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from responder.taxonomy import builtin_taxonomy  # noqa: E402
from responder.taxonomy.models import Taxonomy  # noqa: E402

RUNBOOKS = ROOT / "docs" / "runbooks"
QUIET = {"collect_evidence", "notify_operator"}
SECTIONS = ("does", "undo")


def marker(section: str, end: bool = False) -> str:
    return f"<!-- {'end ' if end else ''}generated: {section} (scripts/runbooks.py) -->"


def generated(taxonomy: Taxonomy, type_id: str, section: str) -> str:
    kind = taxonomy.incident_types[type_id]

    def names(ids: tuple[str, ...]) -> str:
        shown = [f"{taxonomy.actions[a].display_name.lower()} (`{a}`)" for a in ids]
        return "; ".join(shown) if shown else "nothing"

    if section == "does":
        own = tuple(a for a in kind.auto_allowed if a not in QUIET)
        lines = [
            "## What the robot does",
            "- Always: collects evidence and notifies (the incident, chat, the in-app inbox).",
            f"- On its own, on high confidence and allowlisted targets only: {names(own)}.",
            f"- Asks a person to approve: {names(kind.approval_required)}.",
            f"- Never, only recommends: {names(kind.human_only)}.",
        ]
    else:
        lines = ["## How to undo"]
        for action_id in (*kind.auto_allowed, *kind.approval_required):
            if action_id in QUIET:
                continue
            action = taxonomy.actions[action_id]
            undo = action.rollback or "nothing to undo"
            lines.append(f"- {action.display_name} (`{action_id}`): {undo}")
        lines.append(
            "\nThe audit log (`/api/v1/audit`, the admin audit page) names every action "
            "the robot took, when and why."
        )
    return "\n".join([marker(section), *lines, marker(section, end=True)])


def rewritten(text: str, taxonomy: Taxonomy, type_id: str) -> str:
    for section in SECTIONS:
        block = generated(taxonomy, type_id, section)
        start, end = text.find(marker(section)), text.find(marker(section, end=True))
        if start == -1 or end == -1:
            raise SystemExit(f"{type_id}: the {section} markers are missing")
        else:
            text = text[:start] + block + text[end + len(marker(section, end=True)) :]
    return text


def main(check: bool) -> int:
    taxonomy = builtin_taxonomy()
    stale = []
    for type_id in sorted(taxonomy.incident_types):
        page = RUNBOOKS / f"{type_id}.md"
        if not page.is_file():
            stale.append(f"{page.relative_to(ROOT)}: missing")
            continue
        text = page.read_text(encoding="utf-8")
        wanted = rewritten(text, taxonomy, type_id)
        if wanted != text:
            stale.append(str(page.relative_to(ROOT)))
            if not check:
                page.write_text(wanted, encoding="utf-8")
    if check and stale:
        print("out of step with the taxonomy (python scripts/runbooks.py):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main("--check" in sys.argv[1:]))
