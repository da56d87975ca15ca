"""List the public API's functions and classes whose docstrings miss what the API reference needs.

Public = every name in ``__all__`` of emosynth's packages and public modules (the surface the one-flow issue
leaves). A function (or a class, through its ``__init__`` signature) with parameters needs an ``Args:``
section naming them; one that returns something (annotation other than None) needs ``Returns:``; a class
or function without any docstring is listed too. Google style, as mkdocs.yml's mkdocstrings reads it.

    .venv/bin/python scripts/check_docstrings.py            # every gap, one line each; exit 1 if any
    .venv/bin/python scripts/check_docstrings.py emosynth.synth   # one package
"""

from __future__ import annotations

import importlib
import inspect
import sys

MODULES = ["emosynth", "emosynth.emotions", "emosynth.rundir", "emosynth.fsio", "emosynth.errors",
           "emosynth.config", "emosynth.imageio", "emosynth.transforms", "emosynth.compare", "emosynth.evaluate",
           "emosynth.corpus", "emosynth.data", "emosynth.models", "emosynth.judges", "emosynth.synth",
           "emosynth.explore", "emosynth.report", "emosynth.stimuli", "emosynth.study"]


def _params(obj) -> list[str]:
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return []
    return [n for n, p in sig.parameters.items()
            if n not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _returns_something(obj) -> bool:
    if inspect.isclass(obj):
        return False
    try:
        ann = inspect.signature(obj).return_annotation
    except (TypeError, ValueError):
        return False
    return ann is not inspect.Signature.empty and ann not in (None, "None")


def gaps(module_name: str) -> list[str]:
    mod = importlib.import_module(module_name)
    out = []
    for name in getattr(mod, "__all__", []):
        obj = getattr(mod, name, None)
        if not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        if inspect.isclass(obj) and obj.__module__.startswith(("enum", "builtins")):
            continue
        doc = inspect.getdoc(obj) or ""
        where = f"{module_name}.{name}"
        if not doc.strip():
            out.append(f"{where}: no docstring")
            continue
        # dataclass-style configuration classes document their fields as "Attributes:" (or per-field comments)
        params = _params(obj)
        if params and "Args:" not in doc and "Attributes:" not in doc:
            out.append(f"{where}: no Args: section for {', '.join(params)}")
        if _returns_something(obj) and "Returns:" not in doc and "Yields:" not in doc:
            out.append(f"{where}: no Returns: section")
    return out


def main(argv: list[str]) -> int:
    found = [g for m in (argv or MODULES) for g in gaps(m)]
    for g in found:
        print(g)
    print(f"{len(found)} gaps", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
