"""The package graph: each layer imports only the layers below it.

    cli -> UI (app, screens, widgets) -> backends -> runtime.engine
        -> runtime.system -> runtime.container -> {runtime.network, runtime.image}
        -> runtime.store -> runtime.linux -> core (with tuidock.errors)

Every import counts, at the top of a module or inside a function: a lazy import
is still a dependency, only a cheaper one. runtime.network and runtime.image
are siblings and know nothing of each other. tuidock.demo is an independent
oracle for the tests (it builds fixture images and runs the demo registry), so
it imports nothing else from tuidock.

The UI sees an engine only through the Backend protocol: it imports nothing
of tuidock.runtime, and runtime.engine (the local engine's composition root)
is imported only by the local backend and the CLI, which hands the UI its
backend. The runtime knows nothing of the backends built on it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "tuidock"

# (prefix, rank): the longest matching prefix gives a module its layer.
LAYERS: list[tuple[str, int]] = [
    ("tuidock.errors", 0),
    ("tuidock.core", 0),
    ("tuidock.runtime.linux", 1),
    ("tuidock.runtime.store", 2),
    ("tuidock.runtime.image", 3),
    ("tuidock.runtime.network", 3),
    ("tuidock.runtime.container", 4),
    ("tuidock.runtime.system", 5),
    ("tuidock.runtime.build", 5),
    ("tuidock.runtime.engine", 6),
    ("tuidock.backends", 7),
    ("tuidock.app", 8),
    ("tuidock.keymap", 8),
    ("tuidock.uiconfig", 8),
    ("tuidock.messages", 8),
    ("tuidock.jobs", 8),
    ("tuidock.screens", 8),
    ("tuidock.widgets", 8),
    ("tuidock.cli", 9),
    ("tuidock.__main__", 10),
]
# Packages whose __init__ is only a docstring: importing the name of one is free.
NAMESPACES = {"tuidock", "tuidock.runtime", "tuidock.backends"}
UI = ("tuidock.app", "tuidock.screens", "tuidock.widgets", "tuidock.keymap", "tuidock.uiconfig")
# Who may import runtime.engine (tests may too: they are not under PACKAGE).
ENGINE_USERS = ("tuidock.backends.local", "tuidock.cli")


def layer_of(module: str) -> tuple[str, int] | None:
    best: tuple[str, int] | None = None
    for prefix, rank in LAYERS:
        if (module == prefix or module.startswith(prefix + ".")) and (
            best is None or len(prefix) > len(best[0])
        ):
            best = (prefix, rank)
    return best


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every tuidock module `path` imports: `from a.b import c` names a.b.c when
    c is a module, else a.b."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("tuidock")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not node.module.startswith("tuidock"):
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                if _is_module(sub):
                    found.append((node.lineno, sub))
                elif node.module not in NAMESPACES:
                    found.append((node.lineno, node.module))
                elif alias.name != "__version__":
                    found.append((node.lineno, sub))
    return found


def _is_module(name: str) -> bool:
    base = PACKAGE.parent.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def all_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def edges_against_the_order() -> list[str]:
    bad = []
    for path in all_modules():
        src = module_name(path)
        if src.startswith("tuidock.demo"):
            continue
        mine = layer_of(src)
        for line, target in imported_modules(path):
            theirs = layer_of(target)
            if mine is None or theirs is None or target.startswith("tuidock.demo"):
                continue
            upward = theirs[1] > mine[1]
            sideways = theirs[1] == mine[1] and theirs[0] != mine[0] and mine[1] in (3,)
            if upward or sideways:
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {src} -> {target}")
    return bad


def test_every_module_has_a_layer() -> None:
    unplaced = [
        module_name(p)
        for p in all_modules()
        if layer_of(module_name(p)) is None
        and module_name(p) not in NAMESPACES
        and not module_name(p).startswith("tuidock.demo")
    ]
    assert unplaced == []


def test_imports_follow_the_layer_order() -> None:
    assert edges_against_the_order() == []


def within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def imports_matching(
    importers: tuple[str, ...], targets: tuple[str, ...], exempt: tuple[str, ...] = ()
) -> list[str]:
    """Edges from modules under `importers` (but not `exempt`) to modules under `targets`."""
    bad = []
    for path in all_modules():
        src = module_name(path)
        if not within(src, importers) or within(src, exempt):
            continue
        for line, target in imported_modules(path):
            if within(target, targets):
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {src} -> {target}")
    return bad


def test_ui_imports_nothing_of_the_runtime() -> None:
    assert imports_matching(UI, ("tuidock.runtime",)) == []


def test_runtime_knows_nothing_of_the_backends() -> None:
    assert imports_matching(("tuidock.runtime",), ("tuidock.backends",)) == []


def test_only_the_local_backend_and_the_cli_import_the_engine() -> None:
    assert imports_matching(("tuidock",), ("tuidock.runtime.engine",), ENGINE_USERS) == []


def test_demo_imports_nothing_else_from_tuidock() -> None:
    for path in sorted((PACKAGE / "demo").rglob("*.py")):
        for line, target in imported_modules(path):
            assert target.startswith("tuidock.demo"), f"{path}:{line} imports {target}"


@pytest.mark.parametrize("package", ["tuidock", "tuidock.runtime", "tuidock.backends"])
def test_namespace_packages_are_docstring_only(package: str) -> None:
    init = PACKAGE.parent.joinpath(*package.split("."), "__init__.py")
    body = ast.parse(init.read_text()).body
    rest = [n for n in body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    allowed = [n for n in rest if isinstance(n, ast.Assign)]  # __version__
    assert rest == allowed
