"""Scoring a corpus: millions of images into one CSV, JSON Lines or Parquet file, resumably.

``predict_corpus(inputs, OUT)`` walks folders lazily (sorted, depth first; subfolders unless
``recursive=False``), reads, hashes, decodes and resizes images in worker processes, scores them in
batches on the predictor's fast path, and writes rows as it goes, one shard (``shard_size`` images)
at a time. Memory stays flat however large the corpus: the walk is a generator, at most a few chunks
of decoded images are in flight, and the only state that grows is 16 bytes per image already in OUT
when a run is resumed (the key look-up below).

Rows are keyed by path and content (``sha1`` of the file's bytes). Run the same command again after
an interruption (Ctrl-C, a kill, a full disk) and it resumes: images already in OUT with the same
content are not decoded or scored again; a half-written last line is dropped; only the rest is
scored and appended, so the finished file is the one an unbroken run writes. A file that changed
since it was scored is scored again and its new row appended (the later row for a path is current).

Output, by OUT's extension:

* ``.csv`` — ``path, sha1, category, p_<label>..., valence, arousal, dominance`` (1–9), then
  ``interval_<dim>_lo/_hi``, ``familiarity``, ``unfamiliar`` when the model carries them;
  appended and flushed shard by shard;
* ``.jsonl`` — the records ``emosynth predict --json`` prints, each with its ``sha1``; appended;
* ``.parquet`` — the CSV's columns; each shard is written as a complete Parquet file into
  ``OUT.parts/`` and the parts are merged into OUT (one row group per part) when the run ends.

Beside OUT: ``OUT.emosynth.json`` (what wrote it: model, columns, whether the run completed — the
ownership marker) and ``OUT.skipped.csv`` (``path, sha1, reason``: every image that could not be
read, which never stops the run). An OUT without that marker is a file emosynth did not write and is
never touched; one written with another model is not resumed (``overwrite=True`` starts afresh).

``scheduler="tcp://host:8786"`` sends each shard to a worker of an existing ``dask.distributed``
cluster, which reads, decodes and scores it (the paths must be readable there: a shared file
system) on the engine ``auto`` chose where the command runs; rows come back in order and are
written here, so the output is the one a single machine writes.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import json
import math
import os
import shutil
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from .cluster import STALL_SECONDS
from .config import ConfigError, check_int_at_least, check_positive
from .errors import ClusterError, ImageError, OutputError
from .fsio import atomic_write_bytes, write_json
from .imageio import IMAGE_SUFFIXES, read_image, resize_square

#: engines whose predictions equal eager fp32's (max |ΔV|, |ΔA| ≤ 0.05, the bound ``auto`` keeps): a run may
#: resume on another of them; one scored on any other engine resumes only on that engine
EXACT_ENGINES = ("auto", "onnx", "openvino", "torch", "eager")
#: OUT's extension → format
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
#: the ownership kind written into ``OUT.emosynth.json``
KIND = "predict-corpus"
STATE_FORMAT = 1
#: decimals kept for every number written (1–9 scale and probabilities): far below any model's error,
#: and it makes the output independent of the last bits of a batch's arithmetic
DIGITS = 5
SKIPPED_COLUMNS = ("path", "sha1", "reason")


@dataclass
class CorpusConfig:
    """How to score a corpus (what to score and where are ``predict_corpus``'s arguments)."""

    #: walk subfolders of folders given (False: a folder's own images only)
    recursive: bool = True
    #: processes that read, hash, decode and resize images (0: in this process; None: one per core
    #: beyond the first, at least one)
    workers: int | None = None
    #: images per scoring batch
    batch_size: int = 64
    #: images per shard: one write (and flush) of OUT, one Parquet part, one Dask task
    shard_size: int = 1024
    #: fast-path engine (``emosynth.models.features.ENGINES``)
    engine: str = "auto"
    #: a dask.distributed scheduler address; None: this machine
    scheduler: str | None = None
    #: seconds a Dask cluster may sit idle with a shard unscored before the shard is sent again (and,
    #: the second time, before the run stops with one line; a slow shard is never cut short)
    stall_seconds: float = STALL_SECONDS
    #: start afresh over an earlier output of this command at OUT (never over anything else)
    overwrite: bool = False
    #: let JPEGs decode at a reduced scale still at least twice the model's input size (Pillow's
    #: ``draft``): 2–4x faster decoding of large photos, which are resized far smaller anyway
    draft: bool = True

    def validate(self) -> "CorpusConfig":
        from .models.features import ENGINES

        if self.workers is not None:
            check_int_at_least("workers", self.workers, 0, "(0: decode in this process)")
        check_int_at_least("batch_size", self.batch_size, 1)
        check_int_at_least("shard_size", self.shard_size, 1)
        check_positive("stall_seconds", self.stall_seconds)
        if self.engine not in ENGINES:
            raise ConfigError("engine", f"unknown engine {self.engine!r}; choose one of {', '.join(ENGINES)}",
                              lead=False)
        if self.scheduler is not None and not str(self.scheduler).strip():
            raise ConfigError("scheduler_address", "must be a Dask scheduler address such as tcp://host:8786")
        return self

    @property
    def n_workers(self) -> int:
        if self.workers is not None:
            return self.workers
        return max(1, (os.cpu_count() or 1) - 1)


@dataclass
class CorpusResult:
    """What a corpus run did: rows written now, rows already there, images skipped, the files."""

    out: Path
    scored: int
    already: int
    skipped: int
    skipped_file: Path
    seconds: float

    @property
    def rate(self) -> float:
        """Images scored per second of this run (0 when nothing was scored)."""
        return self.scored / self.seconds if self.seconds > 0 else 0.0


# ---------------------------------------------------------------------------- the walk


def walk_images(inputs: Sequence[str | Path], recursive: bool = True) -> Iterator[Path]:
    """Image files under ``inputs`` (files as given; folders walked lazily, entries sorted by name,
    depth first, image suffixes only, symbolic links to folders not followed), in a fixed order."""
    for p in inputs:
        p = Path(p)
        if p.is_dir():
            yield from _walk_dir(p, recursive)
        else:
            yield p


def _walk_dir(folder: Path, recursive: bool) -> Iterator[Path]:
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return  # an unreadable sub-folder is not an image; nothing to list
    for e in entries:
        try:
            is_dir = e.is_dir(follow_symlinks=False)
        except OSError:
            continue
        if is_dir:
            if recursive:
                yield from _walk_dir(Path(e.path), recursive)
        elif Path(e.name).suffix.lower() in IMAGE_SUFFIXES:
            yield Path(e.path)


def check_inputs(inputs: Sequence[str | Path], recursive: bool = True):
    """One ``ImageError`` line for an input that does not exist or a folder with no image (checked
    before any work; the walk itself is lazy)."""
    if not inputs:
        raise ImageError("no images given: name image files or folders")
    for p in inputs:
        p = Path(p)
        if p.is_dir():
            if next(_walk_dir(p, recursive), None) is None:
                where = "" if recursive else " directly (--recursive searches its subfolders)"
                raise ImageError(f"{p}: folder holds no images{where} ({', '.join(sorted(IMAGE_SUFFIXES))})")
        elif not p.exists():
            raise ImageError(f"{p}: no such file or folder")


# ---------------------------------------------------------------------------- keys of rows already written


def _path_key(path: str) -> int:
    return int.from_bytes(hashlib.blake2b(path.encode("utf-8", "surrogateescape"), digest_size=8).digest(), "little")


def _digest_key(sha1: str) -> int:
    return int(sha1[:16], 16)


class _Known:
    """(path, content) of images already in OUT or its skipped list: 16 bytes each, sorted arrays."""

    def __init__(self):
        from array import array

        self._p, self._d = array("Q"), array("Q")
        self.paths = np.zeros(0, np.uint64)
        self.digests = np.zeros(0, np.uint64)

    def add(self, path: str, sha1: str):
        self._p.append(_path_key(path))
        self._d.append(_digest_key(sha1) if sha1 else 0)

    def freeze(self) -> "_Known":
        p = np.frombuffer(self._p, np.uint64) if len(self._p) else np.zeros(0, np.uint64)
        d = np.frombuffer(self._d, np.uint64) if len(self._d) else np.zeros(0, np.uint64)
        order = np.argsort(p, kind="stable")
        self.paths, self.digests = p[order], d[order]
        self._p = self._d = None
        return self

    def __len__(self):
        return len(self.paths)

    def lookup(self, paths: Sequence[str]) -> list[list[int]]:
        """For each path the content keys recorded for it ([] when none)."""
        if not len(self.paths):
            return [[] for _ in paths]
        keys = np.array([_path_key(p) for p in paths], np.uint64)
        lo = np.searchsorted(self.paths, keys, "left")
        hi = np.searchsorted(self.paths, keys, "right")
        return [self.digests[a:b].tolist() for a, b in zip(lo, hi)]


# ---------------------------------------------------------------------------- decoding (worker processes)


def _reason(err: Exception, path: str) -> str:
    text = str(err)
    return text[len(path) + 2:] if text.startswith(path + ": ") else text


def decode_items(items: Sequence[tuple[str, str, list[int]]], size: int, draft: bool):
    """Read, hash, decode and resize a chunk of images (runs in a worker process).

    ``items``: (path as shown, path to read, content keys already recorded for it). Returns
    (decoded [(path, sha1)], uint8 array (n, size, size, 3) or None, bad [(path, sha1, reason)],
    number already recorded)."""
    ok, arrays, bad, done = [], [], [], 0
    for shown, real, known in items:
        try:
            with open(real, "rb") as f:
                digest = hashlib.sha1(f.read()).hexdigest()
        except OSError as err:
            bad.append((shown, "", err.strerror or type(err).__name__))
            continue
        if known and _digest_key(digest) in known:
            done += 1
            continue
        try:
            img = read_image(real, draft=(2 * size, 2 * size) if draft else None)
            arrays.append(resize_square(img, size))
        except ImageError as err:
            bad.append((shown, digest, _reason(err, real)))
            continue
        ok.append((shown, digest))
    return ok, (np.stack(arrays) if arrays else None), bad, done


# ---------------------------------------------------------------------------- rows


def _round(v):
    if isinstance(v, float):
        return round(v, DIGITS) if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _round(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_round(x) for x in v]
    if isinstance(v, (np.floating, np.integer, np.bool_)):
        return _round(v.item())
    return v


def flat_row(record: dict) -> dict:
    """A prediction record (``Predictor.records``, plus ``sha1``) as one flat table row: nested
    probabilities → ``p_<label>``, intervals → ``interval_<dim>_lo/_hi``."""
    row: dict = {}
    for k, v in record.items():
        if k == "probabilities":
            row.update({f"p_{c}": p for c, p in v.items()})
        elif k == "interval":
            for d, iv in v.items():
                row[f"interval_{d}_lo"], row[f"interval_{d}_hi"] = (iv if iv else (None, None))
        else:
            row[k] = v
    return row


def score_decoded(predictor, engine: str, ok: list[tuple[str, str]], arrays: np.ndarray) -> list[dict]:
    """Records (``Predictor.predict_features`` + ``records``, so intervals and familiarity appear when the
    model carries them), each with ``sha1`` after ``path``, numbers rounded to ``DIGITS``."""
    pred = predictor.predict_arrays(arrays, engine=engine)
    out = []
    for (path, digest), rec in zip(ok, predictor.records([p for p, _ in ok], pred)):
        rec = dict(rec)
        rec.pop("path", None)
        out.append(_round({"path": path, "sha1": digest, **rec}))
    return out


# ---------------------------------------------------------------------------- output files


def sidecars(out: Path) -> tuple[Path, Path, Path]:
    """(state marker, skipped list, Parquet parts folder) beside ``out``."""
    return (out.with_name(out.name + ".emosynth.json"), out.with_name(out.name + ".skipped.csv"),
            out.with_name(out.name + ".parts"))


def _corrupt(path: Path, what: str) -> OutputError:
    return OutputError(f"{path}: {what}, so the run cannot resume from it; pass --overwrite to score the corpus "
                       "again from the start, or choose another --out")


def _complete_length(path: Path) -> int:
    """Bytes up to the end of the last complete line (a kill mid-write leaves half a line after it)."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        end = f.tell()
        if end == 0:
            return 0
        f.seek(end - 1)
        if f.read(1) == b"\n":
            return end
        pos, block = end, 1 << 16
        while pos > 0:
            start = max(0, pos - block)
            f.seek(start)
            i = f.read(pos - start).rfind(b"\n")
            if i >= 0:
                return start + i + 1
            pos = start
        return 0


def _lines(path: Path, length: int) -> Iterator[str]:
    """The complete lines of ``path`` (its first ``length`` bytes), decoded."""
    with open(path, "rb") as f:
        read = 0
        for line in f:
            read += len(line)
            if read > length:
                return
            yield line.decode("utf-8", "surrogateescape")


def _read_csv_keys(path: Path, columns: Sequence[str] | None, known: _Known, what: str) -> int:
    """Add (path, sha1) of every complete row of a CSV this module wrote; returns the row count."""
    n = 0
    reader = csv.reader(_lines(path, _complete_length(path)))
    header = next(reader, None)
    if header is None:
        return 0
    if columns is not None and header != list(columns):
        raise _corrupt(path, f"its header is not the {what} header this output began with")
    if header[:2] != ["path", "sha1"]:
        raise _corrupt(path, f"not a {what} file written by emosynth (its header does not start with path,sha1)")
    for row in reader:
        if len(row) != len(header) or (row[1] and len(row[1]) != 40):
            raise _corrupt(path, f"line {reader.line_num} is not a row of it")
        known.add(row[0], row[1])
        n += 1
    return n


def _read_jsonl_keys(path: Path, known: _Known) -> int:
    n = 0
    for i, line in enumerate(_lines(path, _complete_length(path)), start=1):
        try:
            rec = json.loads(line)
            p, d = rec["path"], rec["sha1"]
            if not isinstance(p, str) or not isinstance(d, str) or len(d) != 40:
                raise ValueError
        except (ValueError, KeyError, TypeError):
            raise _corrupt(path, f"line {i} is not a prediction record") from None
        known.add(p, d)
        n += 1
    return n


def _cut_partial_line(path: Path) -> None:
    """Drop a last line without its newline, once the rest has been read and found whole."""
    if path.exists():
        n = _complete_length(path)
        if n != path.stat().st_size:
            with open(path, "rb+") as f:
                f.truncate(n)


def _parquet_schema(columns: Sequence[str]):
    import pyarrow as pa

    kinds = {"path": pa.string(), "sha1": pa.string(), "category": pa.string(), "unfamiliar": pa.bool_()}
    return pa.schema([(c, kinds.get(c, pa.float64())) for c in columns])


def _read_parquet_keys(path: Path, known: _Known) -> int:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        n = 0
        for batch in pf.iter_batches(columns=["path", "sha1"], batch_size=65536):
            for p, d in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist()):
                known.add(p, d)
                n += 1
        return n
    except Exception as err:  # noqa: BLE001 — pyarrow raises many kinds for a damaged file
        raise _corrupt(path, f"not a readable Parquet file of predictions ({type(err).__name__})") from None


def _merged_parts(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(path).metadata or {}
        return json.loads(meta.get(b"emosynth_parts", b"[]"))
    except Exception as err:  # noqa: BLE001
        raise _corrupt(path, f"not a readable Parquet file of predictions ({type(err).__name__})") from None


class _Output:
    """OUT, its marker and its skipped list: ownership, resume, appends, the final merge."""

    def __init__(self, out: Path, model_id: str, overwrite: bool, engine: str = "auto"):
        self.out = Path(out)
        self.engine = engine
        self.format = FORMATS.get(self.out.suffix.lower())
        if self.format is None:
            raise ConfigError("out", f"must end in {', '.join(FORMATS)} (the format is chosen by the extension), "
                              f"got {self.out.name!r}")
        if self.format == "parquet":
            import pyarrow  # noqa: F401 — fail before any work where it is missing
        self.state_file, self.skipped_file, self.parts = sidecars(self.out)
        self.model_id = model_id
        self.known = _Known()
        self.columns: list[str] | None = None
        self.rows = self.skipped = 0
        self._check(overwrite)

    # -- ownership and resume

    def _check(self, overwrite: bool):
        out, state_file = self.out, self.state_file
        for p in (out, self.skipped_file, self.parts, state_file):
            if p.is_symlink():
                raise OutputError(f"{p}: is a symbolic link; give the output file's real path")
        if out.is_dir():
            raise OutputError(f"{out}: a folder is there; --out names a file (.csv, .jsonl or .parquet)")
        ours = [p for p in (out, self.skipped_file, self.parts) if p.exists()]
        state = None
        if state_file.exists():
            try:
                state = json.loads(state_file.read_text())
                if not isinstance(state, dict):
                    raise ValueError
            except (OSError, ValueError):
                raise _corrupt(state_file, "not a readable emosynth marker") from None
            if state.get("kind") != KIND:
                raise OutputError(f"{state_file}: not the marker of emosynth predict --out; choose another --out")
        elif ours:
            raise OutputError(f"{ours[0]}: a file emosynth did not write (no {state_file.name} beside it); choose "
                              "another --out — emosynth never replaces what it did not write")
        if state is not None and overwrite:
            for p in ours:
                shutil.rmtree(p) if p.is_dir() else p.unlink()
            state = None
        if state is not None:
            if state.get("model") != self.model_id:
                raise OutputError(f"{out}: scored with another model ({state.get('model')}); pass --overwrite to "
                                  "score it again with this one, or choose another --out")
            if state.get("format") != self.format:
                raise _corrupt(state_file, f"it describes a {state.get('format')} output, not {self.format}")
            was = state.get("engine", "auto")  # markers before 2026-12-07 have none: exact engines only then
            if was != self.engine and not (was in EXACT_ENGINES and self.engine in EXACT_ENGINES):
                raise OutputError(f"{out}: scored with --engine {was}, whose predictions differ from "
                                  f"--engine {self.engine}'s; resume with --engine {was}, or pass --overwrite")
            self.columns = state.get("columns")
            self._resume()
        self._write_state(complete=False)

    def _resume(self):
        known = self.known
        if self.out.exists():
            if self.format == "csv":
                self.rows += _read_csv_keys(self.out, self.columns, known, "predictions")
            elif self.format == "jsonl":
                self.rows += _read_jsonl_keys(self.out, known)
            else:
                merged = set(_merged_parts(self.out))
                self.rows += _read_parquet_keys(self.out, known)
                for part in self._part_files():
                    if part.name in merged:  # merged before the previous run stopped
                        part.unlink()
        if self.format == "parquet":
            for part in self._part_files():
                self.rows += _read_parquet_keys(part, known)
        if self.skipped_file.exists():
            self.skipped += _read_csv_keys(self.skipped_file, SKIPPED_COLUMNS, known, "skipped-images")
        known.freeze()
        if self.format != "parquet":
            _cut_partial_line(self.out)
        _cut_partial_line(self.skipped_file)

    def _part_files(self) -> list[Path]:
        return sorted(self.parts.glob("part-*.parquet")) if self.parts.is_dir() else []

    def _write_state(self, complete: bool):
        from . import __version__

        write_json(self.state_file, {"kind": KIND, "format_version": STATE_FORMAT, "format": self.format,
                                     "model": self.model_id, "engine": self.engine, "columns": self.columns,
                                     "complete": complete,
                                     "rows": self.rows, "skipped": self.skipped,
                                     "emosynth_version": __version__})

    # -- appends

    def _append(self, path: Path, data: bytes):
        try:
            with open(path, "ab") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as err:
            raise OutputError(f"{path}: cannot write ({err.strerror or err}); the rows so far are kept, run the "
                              "same command again to resume") from None

    def write_shard(self, index: int, records: list[dict], bad: list[tuple[str, str, str]]):
        if bad:
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            if not self.skipped_file.exists() or self.skipped_file.stat().st_size == 0:
                w.writerow(SKIPPED_COLUMNS)
            w.writerows(bad)
            self._append(self.skipped_file, buf.getvalue().encode("utf-8", "surrogateescape"))
            self.skipped += len(bad)
        if not records:
            return
        if self.format == "jsonl":
            text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
            self._append(self.out, text.encode("utf-8", "surrogateescape"))
            self.rows += len(records)
            return
        rows = [flat_row(r) for r in records]
        if self.columns is None:
            self.columns = list(rows[0])
            self._write_state(complete=False)
        if self.format == "csv":
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            if not self.out.exists() or self.out.stat().st_size == 0:
                w.writerow(self.columns)
            w.writerows([[_cell(r.get(c)) for c in self.columns] for r in rows])
            self._append(self.out, buf.getvalue().encode("utf-8", "surrogateescape"))
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pylist([{c: r.get(c) for c in self.columns} for r in rows],
                                         schema=_parquet_schema(self.columns))
            buf = io.BytesIO()
            pq.write_table(table, buf)
            atomic_write_bytes(self.parts / f"part-{index:08d}.parquet", buf.getvalue())
        self.rows += len(rows)

    def finish(self):
        if self.format == "parquet":
            self._merge()
        self._write_state(complete=True)

    def _merge(self):
        """OUT (as it was) + the parts → a new OUT, one row group per part; then the parts go."""
        import tempfile

        import pyarrow.parquet as pq

        parts = self._part_files()
        if not parts and self.out.exists():
            return
        if self.columns is None:  # nothing was ever scored: an empty table of the path/sha1 columns
            self.columns = ["path", "sha1"]
        schema = _parquet_schema(self.columns)
        merged = (_merged_parts(self.out) if self.out.exists() else []) + [p.name for p in parts]
        schema = schema.with_metadata({b"emosynth_parts": json.dumps(merged).encode()})
        fd, tmp = tempfile.mkstemp(dir=self.out.parent, prefix=f".{self.out.name}.tmp-")
        os.close(fd)
        try:
            with pq.ParquetWriter(tmp, schema) as w:
                sources = ([self.out] if self.out.exists() else []) + parts
                for src in sources:
                    pf = pq.ParquetFile(src)
                    for g in range(pf.num_row_groups):
                        w.write_table(pf.read_row_group(g).cast(schema))
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.out)
        except OSError as err:
            raise OutputError(f"{self.out}: cannot write ({err.strerror or err}); the parts are kept in "
                              f"{self.parts}, run the same command again to finish") from None
        finally:
            Path(tmp).unlink(missing_ok=True)
        shutil.rmtree(self.parts, ignore_errors=True)


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


# ---------------------------------------------------------------------------- the model, anywhere


def model_id(predictor) -> str:
    """A fingerprint of a fitted predictor (its configuration and learnt arrays): OUT is resumed only by
    the model that began it."""
    h = hashlib.sha1(json.dumps(predictor.config.__dict__, sort_keys=True, default=str).encode())
    for name in sorted(vars(predictor)):
        v = vars(predictor)[name]
        if name.endswith("_") and isinstance(v, np.ndarray):
            h.update(name.encode())
            h.update(np.ascontiguousarray(v).tobytes())
    return h.hexdigest()[:16]


def _portable(predictor):
    """A shallow copy without its engine sessions and torch views (what travels to a Dask worker)."""
    p = copy.copy(predictor)
    p.__dict__ = dict(predictor.__dict__)
    p._extractor = None
    p.__dict__.pop("_modules", None)
    return p


_WORKER_MODELS: dict[str, object] = {}


def score_shard(predictor, key: str, engine: str, size: int, draft: bool, batch_size: int,
                items: list[tuple[str, str, list[int]]], engines: list[str] | None = None):
    """Decode and score one shard where it runs (a Dask worker): (records, bad, number already recorded).
    Chunks of ``batch_size`` paths are scored as one batch each, as on one machine; ``engines``: what
    ``auto`` chose for each backbone where the command runs (so workers neither measure again nor
    pick an engine whose last digits differ)."""
    model = _WORKER_MODELS.get(key)
    if model is None:  # one model and engine session per worker process
        model = _WORKER_MODELS[key] = predictor
        ex = model.extractor(engine)
        for part, chosen in zip(ex.parts or [ex], engines or []):
            part._auto = chosen  # the engines chosen where the command runs: the same output there
    records, bad, done = [], [], 0
    for i in range(0, len(items), batch_size):
        ok, arrays, b, d = decode_items(items[i:i + batch_size], size, draft)
        bad += b
        done += d
        if ok:
            records += score_decoded(model, engine, ok, arrays)
    return records, bad, done


# ---------------------------------------------------------------------------- the run


def _shards(paths: Iterable[Path], size: int) -> Iterator[list[Path]]:
    shard: list[Path] = []
    for p in paths:
        shard.append(p)
        if len(shard) == size:
            yield shard
            shard = []
    if shard:
        yield shard


def predict_corpus(inputs: Sequence[str | Path], out: str | Path, predictor=None,
                   config: CorpusConfig | None = None,
                   progress: Callable[[int, int | None], None] | None = None) -> CorpusResult:
    """Score every image under ``inputs`` into ``out`` (see the module's docstring), resuming an earlier
    run of the same model there. ``predictor``: a fitted ``Predictor`` (default: the packaged model).
    ``progress(k, total)``: called as k more images are done (``total``: the corpus size once the
    background count has finished, else None).

    Bad input (a missing input, an unknown extension, an output emosynth did not write or cannot
    resume) raises one ``EmosynthError`` line before any image is scored. A decoding worker process that
    dies raises ``ClusterError``; the workers are spawned and import the calling script again, so a script
    must call this under ``if __name__ == "__main__":`` (or pass ``workers=0``)."""
    from .models import Predictor

    config = (config or CorpusConfig()).validate()
    inputs = [Path(p) for p in inputs]
    check_inputs(inputs, config.recursive)
    predictor = predictor if predictor is not None else Predictor.load()
    predictor._check_fitted()
    output = _Output(Path(out), model_id(predictor), config.overwrite, config.engine)
    already_rows, already_skipped = output.rows, output.skipped
    known = output.known
    size = predictor.input_size
    total = _Counter(inputs, config.recursive, progress)
    t0 = time.perf_counter()

    def tasks(shard: list[Path]):
        looked = known.lookup([str(p) for p in shard])
        return [(str(p), os.path.abspath(p), k) for p, k in zip(shard, looked)]

    shards = (tasks(s) for s in _shards(walk_images(inputs, config.recursive), config.shard_size))
    if config.scheduler:
        results = _dask_results(shards, predictor, config, size)
    else:
        results = _local_results(shards, predictor, config, size)
    try:
        for index, (records, bad, done) in enumerate(results):
            output.write_shard(index, records, bad)
            if progress:
                progress(len(records) + len(bad) + done, total.value)
    finally:
        total.stop()
    output.finish()
    return CorpusResult(output.out, output.rows - already_rows, already_rows,
                        output.skipped - already_skipped, output.skipped_file, time.perf_counter() - t0)


class _Counter:
    """Counts the corpus in a background thread, so progress can show an ETA without holding the list."""

    def __init__(self, inputs, recursive, progress):
        import threading

        self.value: int | None = None
        self._stop = threading.Event()
        self._thread = None
        if progress is not None:
            self._thread = threading.Thread(target=self._count, args=(inputs, recursive), daemon=True)
            self._thread.start()

    def _count(self, inputs, recursive):
        n = 0
        for _ in walk_images(inputs, recursive):
            if self._stop.is_set():
                return
            n += 1
        self.value = n

    def stop(self):
        self._stop.set()


def _local_results(shards, predictor, config: CorpusConfig, size: int):
    """(records, bad, done) per shard: chunks decoded by a process pool (bounded look-ahead), scored here."""
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    from multiprocessing import get_context

    n = config.n_workers
    bs = config.batch_size
    pool = (ProcessPoolExecutor(n, mp_context=get_context("spawn"), initializer=_watch_parent,
                                initargs=(os.getpid(),)) if n > 0 else None)

    def chunks():
        for items in shards:
            starts = list(range(0, len(items), bs))
            for j, i in enumerate(starts):
                yield items[i:i + bs], j == len(starts) - 1

    try:
        window: deque = deque()
        it = chunks()
        ahead = 2 * n + 2
        records, bad, done = [], [], 0

        def submit():
            try:
                chunk, last = next(it)
            except StopIteration:
                return False
            if pool is None:
                window.append((_Done(decode_items(chunk, size, config.draft)), last))
            else:
                window.append((pool.submit(decode_items, chunk, size, config.draft), last))
            return True

        while len(window) < ahead and submit():
            pass
        while window:
            fut, last = window.popleft()
            submit()
            try:
                ok, arrays, b, d = fut.result()
            except BrokenProcessPool:
                raise ClusterError(
                    "a decoding worker process stopped (killed, out of memory, or it could not start: a script "
                    "that calls predict_corpus must call it under `if __name__ == \"__main__\":`, since the "
                    "workers import the script again; or pass workers=0); what was written is kept, and the "
                    "same call resumes") from None
            bad += b
            done += d
            if ok:
                records += score_decoded(predictor, config.engine, ok, arrays)
            if last:
                yield records, bad, done
                records, bad, done = [], [], 0
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _watch_parent(parent: int):
    """In a decoding worker: exit when the process that started it is gone (killed with SIGKILL, it
    cannot stop its pool, and an orphaned worker would wait for work for ever)."""
    import threading

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


class _Done:
    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


def _dask_results(shards, predictor, config: CorpusConfig, size: int):
    """(records, bad, done) per shard, each shard decoded and scored by a worker of the Dask cluster.

    The model (about 2 MB without its engine sessions) travels inside each task rather than by
    ``Client.scatter``: a broadcast left this project's CI with two idle workers and a task that never
    ran. Waiting goes through ``cluster.wait_result``, so a cluster that stops working ends the run
    with one line (what was written is kept, and the same command resumes) instead of a hang."""
    from .cluster import wait_result

    try:
        from distributed import Client
    except ImportError:
        raise ConfigError("scheduler_address", "needs dask.distributed: pip install distributed") from None
    try:
        client = Client(config.scheduler, timeout="10s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as err:
        raise ConfigError("scheduler_address", f"{config.scheduler}: no Dask scheduler answers there "
                          f"({type(err).__name__}); start one (dask scheduler) or check the address",
                          lead=False) from None
    try:
        n = max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))
        ex = predictor.extractor(config.engine)
        engines = [p.engine for p in (ex.parts or [ex])]
        model = _portable(predictor)
        key = model_id(predictor)

        def submit(items):
            return client.submit(score_shard, model, key, config.engine, size, config.draft, config.batch_size,
                                 items, engines, pure=False)

        window: deque = deque()
        it = iter(shards)
        while True:
            while len(window) < 2 * n:
                items = next(it, None)
                if items is None:
                    break
                window.append((submit(items), items))
            if not window:
                break
            fut, items = window.popleft()
            result = wait_result(client, fut, config.scheduler, config.stall_seconds,
                                 resubmit=lambda items=items: submit(items))
            fut.release()
            yield result
    finally:
        client.close()
