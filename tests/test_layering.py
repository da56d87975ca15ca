"""The layering holds (issue 14 §3, §7): read every import of src/, tests/ and benchmarks/ with ``ast`` and fail on

* a private (``_``-prefixed) module or name imported from another package of ``emosynth``;
* a cycle between packages (``emosynth.synth`` → ``emosynth.explore`` → ``emosynth.synth``), lazy imports
  inside functions included;
* an import of ``emosynth.cli`` from the library (nothing imports the CLI);
* a test or benchmark importing a ``_`` module (they use the packages' public names).

Each rule is a function over a source tree, tested here on a small bad tree so that it can fail.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "emosynth"


def _module_name(path: Path, src: Path) -> tuple[str, bool]:
    """('emosynth.synth._dqd', is_package) for a file under ``src``."""
    parts = list(path.relative_to(src).with_suffix("").parts)
    is_pkg = parts[-1] == "__init__"
    if is_pkg:
        parts = parts[:-1]
    return ".".join(parts), is_pkg


def imports(path: Path, module: str | None = None, is_pkg: bool = False) -> list[tuple[str, int]]:
    """Every module imported by ``path`` (absolute dotted names, relative imports resolved against
    ``module``), anywhere in the file; ``from X import y`` yields ``X.y`` (y may be a module or a name)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                if module is None:
                    continue
                parts = module.split(".")
                keep = len(parts) - node.level + (1 if is_pkg else 0)
                base = ".".join(parts[:keep] + ([base] if base else []))
            out += [(f"{base}.{a.name}", node.lineno) for a in node.names if a.name != "*"]
    return out


def _package_of(module: str, src: Path | None = None) -> str:
    """The top-level unit a module belongs to: 'emosynth.synth', 'emosynth.rundir', or 'emosynth' (for the
    package itself and names defined in its ``__init__``, such as ``__version__``)."""
    parts = module.split(".")
    if len(parts) == 1 or (src is not None and not _is_module(".".join(parts[:2]), src)):
        return parts[0]
    return ".".join(parts[:2])


def _src_files(src: Path):
    for path in sorted((src / PACKAGE).rglob("*.py")):
        yield path, *_module_name(path, src)


def _is_module(name: str, src: Path) -> bool:
    p = src.joinpath(*name.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def _private_part(name: str) -> str | None:
    return next((p for p in name.split(".")[1:] if p.startswith("_") and not p.startswith("__")), None)


def private_imports_across_packages(src: Path) -> list[str]:
    """'file:line imports X' where X is a private module or name of another package."""
    bad = []
    for path, module, is_pkg in _src_files(src):
        mine = _package_of(module)
        for name, line in imports(path, module, is_pkg):
            if not name.startswith(PACKAGE + ".") or _package_of(name) == mine:
                continue
            if _private_part(name):
                bad.append(f"{path.relative_to(src)}:{line} imports {name}")
    return bad


def package_graph(src: Path) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path, module, is_pkg in _src_files(src):
        mine = _package_of(module)
        graph.setdefault(mine, set())
        for name, _ in imports(path, module, is_pkg):
            if name.startswith(PACKAGE + ".") and _package_of(name, src) not in (mine, PACKAGE):
                graph[mine].add(_package_of(name, src))
    return graph


def package_cycles(src: Path) -> list[list[str]]:
    """Each cycle of the package graph once, as the list of packages along it."""
    graph = package_graph(src)
    cycles, seen = [], set()

    def visit(node, stack):
        for nxt in sorted(graph.get(node, ())):
            if nxt in stack:
                cyc = stack[stack.index(nxt):]
                key = frozenset(cyc)
                if key not in seen:
                    seen.add(key)
                    cycles.append(cyc + [nxt])
            elif len(stack) < len(graph):
                visit(nxt, stack + [nxt])

    for start in sorted(graph):
        visit(start, [start])
    return cycles


def cli_imports(src: Path) -> list[str]:
    """Library modules that import ``emosynth.cli`` (the CLI sits on top; nothing imports it)."""
    bad = []
    for path, module, is_pkg in _src_files(src):
        if module == f"{PACKAGE}.cli":
            continue
        for name, line in imports(path, module, is_pkg):
            if name == f"{PACKAGE}.cli" or name.startswith(f"{PACKAGE}.cli."):
                bad.append(f"{path.relative_to(src)}:{line} imports {name}")
    return bad


def private_module_imports(folders: list[Path], src: Path) -> list[str]:
    """Tests / benchmarks / scripts importing a ``_`` module of emosynth (a private *module*; names are
    looked up in ``src`` to tell the two apart)."""
    bad = []
    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            for name, line in imports(path):
                if not name.startswith(PACKAGE + "."):
                    continue
                parts = name.split(".")
                for i in range(2, len(parts) + 1):
                    prefix = ".".join(parts[:i])
                    if parts[i - 1].startswith("_") and not parts[i - 1].startswith("__") and _is_module(prefix, src):
                        bad.append(f"{path.relative_to(folder.parent)}:{line} imports {prefix}")
                        break
    return list(dict.fromkeys(bad))


# ------------------------------------------------------------------ the real tree


def test_no_private_import_across_packages():
    assert private_imports_across_packages(ROOT / "src") == []


def test_no_package_cycle():
    assert package_cycles(ROOT / "src") == []


def test_nothing_imports_the_cli():
    assert cli_imports(ROOT / "src") == []


def test_tests_and_benchmarks_use_public_modules():
    assert private_module_imports([ROOT / "tests", ROOT / "benchmarks"], ROOT / "src") == []


def test_each_package_declares_its_public_names():
    for init in sorted((ROOT / "src" / PACKAGE).glob("*/__init__.py")):
        tree = ast.parse(init.read_text())
        names = [t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)]
        assert "__all__" in names, f"{init.relative_to(ROOT)} has no __all__"


# ------------------------------------------------------------------ the rules can fail


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


@pytest.fixture
def bad_tree(tmp_path):
    src = _write(tmp_path / "src", {
        "emosynth/__init__.py": "",
        "emosynth/cli.py": "from .synth import run\n",
        "emosynth/synth/__init__.py": "from ._run import run\n__all__ = ['run']\n",
        "emosynth/synth/_run.py": "def run():\n    from ..explore._render import _forward\n",
        "emosynth/explore/__init__.py": "",
        "emosynth/explore/_render.py": "from ..synth import run\n\ndef _forward():\n    pass\n",
        "emosynth/report/__init__.py": "",
        "emosynth/report/page.py": "import emosynth.cli\n",
        "emosynth/models/__init__.py": "",
        "emosynth/models/_arch.py": "",
        "emosynth/models/registry.py": "from . import _arch\nfrom ._arch import x\n",
    })
    tests = _write(tmp_path / "tests", {
        "test_a.py": "from emosynth.synth._run import run\nfrom emosynth.models import _arch as a\n"
                     "from emosynth.synth import run, _private_name\nimport emosynth.explore._render\n",
    })
    return src, tests


def test_private_import_rule_finds_the_bad_import(bad_tree):
    src, _ = bad_tree
    bad = private_imports_across_packages(src)
    assert bad == ["emosynth/synth/_run.py:2 imports emosynth.explore._render._forward"]


def test_cycle_rule_finds_the_cycle(bad_tree):
    src, _ = bad_tree
    cycles = package_cycles(src)
    assert len(cycles) == 1 and set(cycles[0]) == {"emosynth.synth", "emosynth.explore"}
    (src / "emosynth/explore/_render.py").write_text("def _forward():\n    pass\n")
    assert package_cycles(src) == []


def test_cli_rule_finds_the_library_importing_the_cli(bad_tree):
    src, _ = bad_tree
    assert cli_imports(src) == ["emosynth/report/page.py:1 imports emosynth.cli"]


def test_test_rule_finds_private_modules_not_private_names(bad_tree):
    src, tests = bad_tree
    bad = private_module_imports([tests], src)
    assert bad == ["tests/test_a.py:1 imports emosynth.synth._run", "tests/test_a.py:2 imports emosynth.models._arch",
                   "tests/test_a.py:4 imports emosynth.explore._render"]
