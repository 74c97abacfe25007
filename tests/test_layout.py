"""The package layout tells the data flow (spec → layers → objects): imports run one way, no module
imports one that imports it back, and the review tooling stays out of the program."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "infra" / "natplat"
PROGRAM_DIR = PACKAGE.parent

# Which group may import which: the site spec imports nothing of the program, blocks and
# observability data only the spec (and, for blocks, the handle types layers hand out), and only
# the composition root and the review tooling see every layer.
ALLOWED: dict[str, set[str]] = {
    "spec": {"spec"},
    "observability": {"observability"},
    "blocks": {"spec", "blocks", "layers.baseline"},
    "layers": {"spec", "blocks", "layers", "observability"},
    "composition": {"spec", "layers"},
    "review": {"spec", "blocks", "layers", "observability", "review", "composition"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """natplat module → the natplat modules it imports (at any depth of its code)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("natplat"):
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    targets.add(sub if sub in modules else node.module)
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if a.name.startswith("natplat")}
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _group(module: str) -> str:
    parts = module.split(".")[1:]
    if not parts:
        return "package"
    if parts[0] == "layers" and len(parts) > 1 and parts[1] == "baseline":
        return "layers.baseline"
    return parts[0]


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycle = [*path[path.index(target) :], target]
                raise AssertionError("import cycle: " + " → ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_each_group_imports_only_what_comes_before_it_in_the_flow() -> None:
    wrong = []
    for module, targets in import_graph().items():
        group = _group(module)
        if group == "package":
            continue
        allowed = ALLOWED["layers" if group == "layers.baseline" else group]
        for target in targets:
            target_group = _group(target)
            if target_group not in allowed and not (
                target_group == "layers.baseline" and "layers" in allowed
            ):
                wrong.append(f"{module} imports {target}")
    assert not wrong, wrong


def test_the_program_does_not_import_the_review_tooling() -> None:
    """What `pulumi up` loads (infra/__main__.py's imports) holds no natplat.review module: the
    offline runner, plan and validators never run inside a deployment."""
    check = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import natplat.composition, natplat.spec.stackfile;"
        "print(sorted(m for m in sys.modules if m.startswith('natplat.')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", check, str(PROGRAM_DIR)], capture_output=True, text=True, check=True
    )
    loaded = eval(result.stdout)  # noqa: S307 - our own subprocess printing a list literal
    assert "natplat.layers.logs.stack" in loaded  # the check sees the whole program
    assert not [m for m in loaded if m.startswith("natplat.review")]
    main = (PROGRAM_DIR / "__main__.py").read_text()
    assert "natplat.composition" in main and "natplat.review" not in main
