"""The one way emosynth writes files and folders, and the one rule for what it may replace.

Writing
    ``atomic_write_bytes`` / ``atomic_write_text`` / ``write_json`` write a temporary file in the
    target's folder and rename it over the target. ``output_directory`` yields a fresh folder and,
    when the block succeeds, swaps it in for the output folder.

    On any failure the old content stays exactly as it was, and nothing else is left behind: no
    temporary file, no ``.NAME.old-PID`` folder. A folder is swapped in through a private temporary
    folder beside it (``.NAME.emosynth-XXXX``): the old folder is renamed into it, the new one into
    place, and the private folder (holding the old) removed; if the second rename fails the old folder
    is renamed back. An ``OSError`` of the file system (read-only, ``/proc``, a folder under a file,
    no permission, disk full) becomes ``OutputError``: one line naming the path and what to do.

Ownership
    A command writes into a new (or empty) folder, or replaces a folder that emosynth itself wrote
    *of the same kind*; anything else at the output path — a user's folder, a data set, a run of
    another kind, a file — stops with ``OutputError`` before any work is done. What marks a folder
    as emosynth's, and of which kind (``output_kind``):

    * ``run.json``   → ``"run:" + its "kind"`` (``run:evolve``, ``run:generator``, ``run:visualize``)
    * ``model.json`` → its ``"kind"`` (``generator``), or ``model`` for a saved predictor
    * ``emosynth.json`` (``MARKER_FILE``, written by ``output_directory`` into reports) → its ``"kind"``
      (``compare``, ``analysis``, ``study-report``, ``gallery``, ...)

    Replacing an earlier output of the same kind destroys its results, so it needs
    ``overwrite=True`` (the commands' ``--overwrite``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import OutputError

#: the marker file ``output_directory`` writes into outputs that have no run.json or model.json
MARKER_FILE = "emosynth.json"
RUN_FILE = "run.json"
MODEL_FILE = "model.json"
#: markers of earlier emosynth versions (gallery sites and study reports), read as these kinds
_LEGACY_MARKERS = {".emosynth-gallery": "gallery", ".emosynth-study-report": "study-report"}


# ---------------------------------------------------------------------------- files


def _oserror(path: Path, err: OSError, doing: str = "cannot write") -> OutputError:
    why = err.strerror or type(err).__name__
    return OutputError(f"{path}: {doing} ({why}); choose a writable place for the output")


def _mkdirs(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"{folder}: a file is there, not a folder; choose another output path") from None
    except OSError as err:
        raise _oserror(folder, err, "cannot create the folder") from None


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: a temporary file beside it, then a rename.

    Args:
        path: the file to write; its folder is created.
        data: the bytes.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        OutputError: the place cannot be written (one line). ``path`` then keeps its old content and no
            temporary file remains.
    """
    path = Path(path)
    _mkdirs(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-")
    except OSError as err:
        raise _oserror(path, err) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; outputs are as shareable as any other file
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise _oserror(path, err) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """``atomic_write_bytes`` of ``text`` as UTF-8.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        OutputError: the place cannot be written.
    """
    return atomic_write_bytes(path, text.encode("utf-8"))


def _jsonable(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o) if np.isfinite(o) else None
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def write_json(path: str | Path, obj) -> Path:
    """Write ``obj`` as indented JSON, atomically.

    Args:
        path: the file to write.
        obj: JSON-serialisable data; numpy scalars and arrays and paths are converted, a non-finite numpy
            float becomes ``null`` (never ``NaN`` in the file; a non-finite Python float raises ``ValueError``).

    Returns:
        ``path`` as a ``Path``.

    Raises:
        OutputError: the place cannot be written.
    """
    return atomic_write_bytes(path, (json.dumps(obj, indent=2, allow_nan=False, default=_jsonable) + "\n").encode())


# ---------------------------------------------------------------------------- ownership


def _read_kind(file: Path, default: str | None = None) -> str | None:
    try:
        meta = json.loads(file.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict):
        return None
    kind = meta.get("kind", default)
    return kind if isinstance(kind, str) else None


def output_kind(path: str | Path) -> str | None:
    """The kind of emosynth output the folder ``path`` holds (see the module's docstring), else None."""
    path = Path(path)
    if (path / RUN_FILE).is_file():
        kind = _read_kind(path / RUN_FILE)
        return f"run:{kind}" if kind else None
    if (path / MODEL_FILE).is_file():
        return _read_kind(path / MODEL_FILE, default="model")
    if (path / MARKER_FILE).is_file():
        return _read_kind(path / MARKER_FILE)
    for name, kind in _LEGACY_MARKERS.items():
        if (path / name).is_file():
            return kind
    return None


def describe_kind(kind: str | None) -> str:
    """'an evolve run', 'a saved model', 'a compare report' …"""
    if kind is None:
        return "an unknown emosynth output"
    if kind.startswith("run:"):
        k = kind[4:]
        return f"{'an' if k[:1] in 'aeiou' else 'a'} {k} run"
    named = {"model": "a saved model", "generator": "a trained generator", "gallery": "a gallery site",
             "study": "a study's image folder"}
    return named.get(kind, f"{'an' if kind[:1] in 'aeiou' else 'a'} {kind} report")


def _probe(folder: Path, target: Path) -> None:
    """Fail now, not after the work, where ``folder`` cannot take new files."""
    try:
        tmp = tempfile.mkdtemp(dir=folder, prefix=".emosynth-probe-")
    except OSError as err:
        raise _oserror(target, err, f"cannot write in {folder}") from None
    os.rmdir(tmp)


def check_output(path: str | Path, kind: str, overwrite: bool = False) -> str | None:
    """Apply the ownership rule to an output folder; call it before any work starts.

    Args:
        path: the ``--out`` folder.
        kind: the kind of output about to be written (``run:evolve``, ``model``, ``compare``, ...).
        overwrite: whether an earlier output of the same kind may be replaced.

    Returns:
        The kind found there (``kind``, when ``overwrite`` allowed replacing it), or None for a new or empty
        folder.

    Raises:
        OutputError: one line, for a file, a symbolic link, a folder that emosynth did not write, an output
            of another kind, an output of the same kind without ``overwrite``, or a place where nothing can
            be written.
    """
    path = Path(path)
    if path.is_symlink():
        raise OutputError(f"{path}: is a symbolic link; give the output folder's real path")
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: a file is there, not a folder; choose another output folder "
                          "(emosynth never replaces a file with a folder)")
    if not path.exists():
        anc = path.absolute().parent
        while not anc.exists() and anc != anc.parent:
            anc = anc.parent
        if not anc.is_dir():
            raise OutputError(f"{path}: {anc} is a file, so no folder can be made under it; "
                              "choose another output folder")
        _probe(anc, path)
        return None
    try:
        entries = sorted(p.name for p in path.iterdir())
    except OSError as err:
        raise _oserror(path, err, "cannot read the folder") from None
    _probe(path.absolute().parent, path)
    if not entries:
        _probe(path, path)
        return None
    found = output_kind(path)
    if found is None:
        shown = ", ".join(entries[:3]) + (", …" if len(entries) > 3 else "")
        raise OutputError(f"{path}: a folder emosynth did not write (it holds {shown}); choose a new or empty "
                          "output folder — emosynth never deletes what it did not write")
    if found != kind:
        raise OutputError(f"{path}: holds {describe_kind(found)}, not {describe_kind(kind)}; "
                          "choose another output folder")
    if not overwrite:
        raise OutputError(f"{path}: already holds {describe_kind(kind)}; pass --overwrite to replace it "
                          "or choose another output folder")
    _probe(path, path)
    return found


def mark_output(path: str | Path, kind: str) -> Path:
    """Write the marker that makes ``path`` an emosynth output of ``kind`` (for commands that write
    into their folder as they go, such as evolve and generator train, so that a half-done output is
    recognised as theirs)."""
    from . import __version__

    return write_json(Path(path) / MARKER_FILE, {"kind": kind, "emosynth_version": __version__})


@contextmanager
def output_directory(path: str | Path, kind: str, overwrite: bool = False, marker: bool = True) -> Iterator[Path]:
    """Yield a fresh folder to fill; when the block succeeds it replaces ``path`` (the ownership rule is
    checked first, by ``check_output``, and again just before the swap). ``marker``: write
    ``emosynth.json`` {"kind": kind} into it unless it holds a run.json or model.json.

    On failure — in the block or in the swap — ``path`` stays as it was and no temporary folder remains."""
    path = Path(path)
    check_output(path, kind, overwrite)
    parent = path.absolute().parent
    _mkdirs(parent)
    try:
        box = Path(tempfile.mkdtemp(dir=parent, prefix=f".{path.name}.emosynth-"))
    except OSError as err:
        raise _oserror(path, err) from None
    try:
        new = box / "new"
        new.mkdir()
        new.chmod(0o755)
        yield new
        if marker and not ((new / RUN_FILE).is_file() or (new / MODEL_FILE).is_file()):
            mark_output(new, kind)
        check_output(path, kind, overwrite)  # nothing else appeared there while we worked
        try:
            if path.exists():
                os.replace(path, box / "old")
                try:
                    os.replace(new, path)
                except BaseException:
                    os.replace(box / "old", path)
                    raise
            else:
                os.replace(new, path)
        except OSError as err:
            raise _oserror(path, err, "cannot put the output in place") from None
    finally:
        shutil.rmtree(box, ignore_errors=True)


@contextmanager
def exclusive(path: str | Path) -> Iterator[Path]:
    """Hold an exclusive lock on ``path`` (created if missing; left in place, it is only a name to lock)
    for the block: processes that build the same cached thing take turns, so the second finds the
    first one's result instead of building it again and colliding with it on the way in.

    Args:
        path: The lock file, e.g. ``cache/models/NAME.lock`` beside what it guards.

    Yields:
        The lock file's path. Where the platform has no ``fcntl`` (Windows), the block runs unlocked.

    Raises:
        OutputError: The lock file cannot be created.
    """
    path = Path(path)
    _mkdirs(path.absolute().parent)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise _oserror(path, err) from None
    try:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            fcntl = None
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield path
    finally:
        os.close(fd)  # closing releases the lock

