"""The nightly drift report: what `pulumi preview --refresh --expect-no-changes --json` found that
differs between a site's live cluster and its program, one line per resource and field.

Without `--refresh` a preview compares the program with the state file, not with the cluster: a
NetworkPolicy deleted by hand or a Deployment scaled by hand goes unseen. With it, a resource
deleted outside Pulumi shows as one to create again, a changed one as an update of the fields that
moved (`detailedDiff`), and the report says so in words an operator acts on.

    python -m natplat.review.drift build/drift-<site>.json <site>
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

WHAT = {
    "create": "deleted outside Pulumi: the next `pulumi up` creates it again",
    "create-replacement": "changed outside Pulumi in a field that forces a replacement",
    "replace": "changed outside Pulumi in a field that forces a replacement",
    "update": "changed outside Pulumi: the next `pulumi up` sets it back",
    "delete": "not in the program any more but still live",
    "delete-replaced": None,  # the other half of a replacement, reported with it
}
IGNORED = {"same", "read", "refresh", "discard", "discard-replaced", "import", "import-replacement"}


def describe_urn(urn: str) -> str:
    """`urn:pulumi:<stack>::<project>::<type chain>::<name>` → `<Kind> <name>` for a Kubernetes
    object, else `<type> <name>`."""
    _, _, rest = urn.partition("::")
    _, _, rest = rest.partition("::")
    types, _, name = rest.rpartition("::")
    kind = types.rsplit("$", 1)[-1]
    if kind.startswith("kubernetes:") and not kind.startswith("kubernetes:helm.sh"):
        kind = kind.rsplit(":", 1)[-1]
    return f"{kind} {name}"


def _fields(step: dict[str, Any]) -> list[str]:
    detailed = step.get("detailedDiff") or {}
    return sorted(detailed) or sorted(step.get("diffReasons") or [])


def drift_lines(preview: dict[str, Any]) -> list[str]:
    lines = []
    for step in preview.get("steps") or []:
        op = step.get("op", "")
        if op in IGNORED or WHAT.get(op, "") is None:
            continue
        what = WHAT.get(op, f"{op} planned")
        fields = _fields(step)
        where = f": {', '.join(fields)}" if fields and op not in ("create", "delete") else ""
        lines.append(f"- `{describe_urn(step.get('urn', '?'))}` {what}{where}")
    return lines


def report(preview: dict[str, Any], site: str) -> str:
    lines = drift_lines(preview)
    if not lines:
        return f"## Drift on {site}\n\nNo drift: the live cluster matches the program.\n"
    summary = ", ".join(
        f"{count} {op}" for op, count in sorted((preview.get("changeSummary") or {}).items()) if op != "same"
    )
    return "\n".join(
        [f"## Drift on {site}", "", f"{len(lines)} resource(s) differ ({summary}):", "", *lines, ""]
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m natplat.review.drift <preview.json> <site>", file=sys.stderr)
        return 2
    text = Path(args[0]).read_text()
    try:
        preview = json.loads(text[text.index("{") :])
    except ValueError:
        print(f"## Drift on {args[1]}\n\nThe preview did not produce a JSON report; see the run's log.")
        return 1
    print(report(preview, args[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
