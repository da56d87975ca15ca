"""Checkpoints that hold data, never code: a state tree saved as one ``.npz`` file.

``save_state(path, obj)`` walks ``obj``: numpy arrays become npz entries, everything else becomes
one JSON document (stored in the same npz as the entry ``__state__``, so the file is written
atomically as a whole). What the walker accepts:

* ``None``, ``bool``, ``int`` (any size), ``float`` (NaN and ±inf too), ``str``;
* lists, tuples, dicts (any of these as keys), numpy arrays, scalars and dtypes;
* ``numpy.random.Generator`` (its bit generator's name and state); the array namespace modules
  of ``MODULES`` (by name);
* objects of classes from the allowed packages (``ribs``, ``emosynth`` by default): their class
  path and their ``__dict__``, walked the same way.

Anything else (a function, a module, a lambda, a class from elsewhere) is refused when saving.
``load_state`` reads with ``numpy.load(allow_pickle=False)`` and ``json``; it rebuilds objects with
``cls.__new__`` and their attribute dicts — no ``__reduce__``, ``__setstate__`` or constructor of a
file's choosing ever runs, and a class outside the allowed packages is refused. A crafted file can
at worst hold wrong numbers.
"""

from __future__ import annotations

import importlib
import io
import json
import math
import zipfile
from pathlib import Path

import numpy as np

from .fsio import atomic_write_bytes

STATE_ENTRY = "__state__"
ALLOWED = ("ribs.", "emosynth.")
#: modules an object may hold as an attribute (ribs' archives keep their array namespace)
MODULES = ("numpy", "array_api_compat.numpy")


class StateError(ValueError):
    """A state file that is not one of ours, or an object the walker does not store."""


def _allowed(module: str, allowed) -> bool:
    return any(module == a.rstrip(".") or module.startswith(a) for a in allowed)


def _float(x: float):
    if math.isfinite(x):
        return x
    return {"$f": "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")}


def _encode(obj, arrays: dict, allowed, seen: dict):
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int) and not isinstance(obj, bool):
        return obj if abs(obj) < 2 ** 53 else {"$i": str(obj)}
    if isinstance(obj, float):
        return _float(obj)
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise StateError("an object array cannot be stored as data")
        key = f"a{len(arrays)}"
        arrays[key] = obj
        return {"$a": key}
    if isinstance(obj, np.generic):
        return {"$s": obj.dtype.str, "v": _encode(obj.item(), arrays, allowed, seen)}
    if isinstance(obj, np.dtype):
        if obj.hasobject or obj.fields:
            raise StateError(f"dtype {obj} cannot be stored as data")
        return {"$dtype": obj.str}
    if isinstance(obj, list):
        return [_encode(v, arrays, allowed, seen) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return {"$set": [_encode(v, arrays, allowed, seen) for v in obj], "frozen": isinstance(obj, frozenset)}
    if isinstance(obj, tuple):
        return {"$t": [_encode(v, arrays, allowed, seen) for v in obj]}
    if isinstance(obj, dict):
        return {"$d": [[_encode(k, arrays, allowed, seen), _encode(v, arrays, allowed, seen)]
                       for k, v in obj.items()]}
    if isinstance(obj, np.random.Generator):
        bg = obj.bit_generator
        return {"$rng": type(bg).__name__, "state": _encode(bg.state, arrays, allowed, seen)}
    if isinstance(obj, type) and (issubclass(obj, np.generic) or _allowed(obj.__module__, allowed)):
        return {"$c": f"{obj.__module__}:{obj.__qualname__}"}
    if isinstance(obj, type(np)) and obj.__name__ in MODULES:
        return {"$m": obj.__name__}
    cls = type(obj)
    if not _allowed(cls.__module__, allowed) or not hasattr(obj, "__dict__") or callable(obj):
        raise StateError(f"{cls.__module__}.{cls.__qualname__} is not stored in a data-only checkpoint")
    if id(obj) in seen:  # the same object twice (e.g. the archive in the scheduler and each emitter)
        return {"$ref": seen[id(obj)]}
    ref = len(seen)
    seen[id(obj)] = ref
    return {"$o": f"{cls.__module__}:{cls.__qualname__}", "id": ref,
            "attrs": {k: _attr(obj, k, v, arrays, allowed, seen) for k, v in vars(obj).items()}}


def _attr(obj, k, v, arrays, allowed, seen):
    try:
        return _encode(v, arrays, allowed, seen)
    except StateError as err:
        raise StateError(f"{type(obj).__name__}.{k}: {err}") from None


def save_state(path: str | Path, obj, allowed=ALLOWED) -> Path:
    """Write ``obj`` (see the module's rules) to ``path`` as one npz file, atomically."""
    arrays: dict = {}
    tree = _encode(obj, arrays, allowed, {})
    doc = json.dumps(tree, allow_nan=False, separators=(",", ":")).encode()
    arrays[STATE_ENTRY] = np.frombuffer(doc, dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())


def _class(path: str, allowed):
    module, _, name = path.partition(":")
    if not _allowed(module, allowed):
        raise StateError(f"class {path} is not allowed in a checkpoint")
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    if not isinstance(obj, type):
        raise StateError(f"{path} is not a class")
    return obj


def _decode(node, arrays, allowed, objs: dict):
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, list):
        return [_decode(v, arrays, allowed, objs) for v in node]
    if not isinstance(node, dict) or len(node) == 0:
        raise StateError("malformed state")
    if "$a" in node:
        return arrays[node["$a"]]
    if "$f" in node:
        return float(node["$f"])
    if "$i" in node:
        return int(node["$i"])
    if "$s" in node:
        return np.dtype(node["$s"]).type(_decode(node["v"], arrays, allowed, objs))
    if "$dtype" in node:
        return np.dtype(node["$dtype"])
    if "$set" in node:
        items = [_decode(v, arrays, allowed, objs) for v in node["$set"]]
        return frozenset(items) if node.get("frozen") else set(items)
    if "$t" in node:
        return tuple(_decode(v, arrays, allowed, objs) for v in node["$t"])
    if "$d" in node:
        return {_decode(k, arrays, allowed, objs): _decode(v, arrays, allowed, objs) for k, v in node["$d"]}
    if "$rng" in node:
        name = node["$rng"]
        bg_cls = getattr(np.random, name, None)
        if not (isinstance(bg_cls, type) and issubclass(bg_cls, np.random.BitGenerator)):
            raise StateError(f"unknown bit generator {name!r}")
        bg = bg_cls()
        bg.state = _decode(node["state"], arrays, allowed, objs)
        return np.random.Generator(bg)
    if "$c" in node:
        module, _, name = node["$c"].partition(":")
        cls = getattr(np, name, None) if module == "numpy" else None
        if isinstance(cls, type) and issubclass(cls, np.generic):
            return getattr(np, name)
        return _class(node["$c"], allowed)
    if "$m" in node:
        if node["$m"] not in MODULES:
            raise StateError(f"module {node['$m']!r} is not allowed in a checkpoint")
        return importlib.import_module(node["$m"])
    if "$ref" in node:
        return objs[node["$ref"]]
    if "$o" in node:
        cls = _class(node["$o"], allowed)
        obj = cls.__new__(cls)  # object.__new__: no constructor of the file's choosing runs
        objs[node["id"]] = obj
        for k, v in node["attrs"].items():
            obj.__dict__[k] = _decode(v, arrays, allowed, objs)
        return obj
    raise StateError("malformed state")


def load_state(path: str | Path, allowed=ALLOWED):
    """Read a file written by ``save_state``; raises ``StateError`` for anything else (a pickle, a
    truncated file, a class outside ``allowed``) — nothing in the file is executed."""
    try:
        with np.load(Path(path), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise StateError(f"not a data-only checkpoint ({type(err).__name__})") from None
    if STATE_ENTRY not in arrays:
        raise StateError("not a data-only checkpoint (no state entry)")
    try:
        tree = json.loads(arrays.pop(STATE_ENTRY).tobytes())
        return _decode(tree, arrays, allowed, {})
    except (ValueError, KeyError, TypeError, AttributeError, ImportError, RecursionError) as err:
        raise StateError(f"malformed checkpoint ({type(err).__name__})") from None
