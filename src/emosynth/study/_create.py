"""``emosynth study create``: sample images from run directories, stratified by target, copy them
into the study's own folder and record the study in the database."""

from __future__ import annotations

import json
import re
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from ..errors import ImageError, StudyError
from ..fsio import output_directory
from ..imageio import IMAGE_SUFFIXES, check_within, read_image
from ..rundir import IMAGES_DIR, ITEMS_FILE, read_run
from ..samples import sample_paths
from ._db import DEFAULT_DB, Image, Study, sessions

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DEFAULT_CONSENT = (
    "You are invited to take part in a study of how pictures make people feel. You will see a series "
    "of images and rate each on three scales: how pleasant, how aroused and how in control it makes you "
    "feel. It takes about 10 minutes. Some images may be unusual or mildly unpleasant. Taking part is "
    "voluntary: you may stop at any time by closing the page. Your ratings are stored without your name "
    "and used for research only.")
#: The practice trials show two of the packaged CC0 sample photos, never a study image.
PRACTICE = ("cat.jpg", "coffee.jpg")
#: the ownership kind of a study's image folder (``emosynth.fsio``)
STUDY_KIND = "study"


@dataclass
class StudyConfig:
    """What ``create`` needs. ``per_target`` images are drawn from each (run, target) stratum."""

    name: str
    runs: list[Path]
    per_target: int = 3
    attention_checks: int = 4
    db: str = DEFAULT_DB
    folder: Path | None = None  # default: studies/<name> (relative to the working directory)
    consent_text: str = DEFAULT_CONSENT
    completion_code: str | None = None
    seed: int = 0
    extra: dict = field(default_factory=dict)


def _num(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


def target_label(row: pd.Series) -> str:
    """The stratum of an item: its target category and/or target V/A/D (1-9), as text."""
    parts = []
    cat = row.get("target_category")
    if isinstance(cat, str) and cat:
        parts.append(cat)
    for dim in ("valence", "arousal", "dominance"):
        v = _num(row.get(f"target_{dim}"))
        if v is not None:
            parts.append(f"{dim[0]}={v:.1f}")
    return " ".join(parts) if parts else "untargeted"


def sample_items(runs: list[Path], per_target: int, seed: int) -> list[dict]:
    """Up to ``per_target`` items from each (run, target) stratum, reproducibly for a seed."""
    rng = np.random.default_rng(seed)
    chosen = []
    names = [Path(r).resolve().name for r in runs]
    if len(set(names)) != len(names):
        raise StudyError("two --from run directories share a folder name; give each run its own name")
    for path in runs:
        run = read_run(path)
        items = run.items.copy()
        if items.empty:
            raise StudyError(f"{path}: run directory has no images")
        items["_stratum"] = [target_label(r) for _, r in items.iterrows()]
        for stratum, group in sorted(items.groupby("_stratum", sort=True), key=lambda kv: kv[0]):
            k = min(per_target, len(group))
            idx = np.sort(rng.choice(len(group), size=k, replace=False))
            for _, row in group.iloc[idx].iterrows():
                chosen.append({"run": run, "row": row, "target": f"{run.path.name}: {stratum}"})
    return chosen


def _verified_image(run_dir: Path, row: pd.Series) -> Path:
    """The real path of a run item's image, if it is a regular image file inside the run's
    ``images/`` (no ``../``, absolute path or symlink) that ``read_image`` decodes within its pixel
    limit; else ``StudyError`` (one line). Participants are served exactly these files."""
    images = Path(run_dir) / IMAGES_DIR
    file = str(row["file"])
    where = f"{Path(run_dir) / ITEMS_FILE} row {int(row.name) + 2}" if isinstance(row.name, (int, np.integer)) else None
    src = images / file
    if src.suffix.lower() not in IMAGE_SUFFIXES:
        raise StudyError(f"{src}: not an image file name ({', '.join(sorted(IMAGE_SUFFIXES))})"
                         + (f" (listed at {where})" if where else ""))
    try:
        read_image(src, within=images, where=where)
        real = check_within(src, images)
    except ImageError as err:
        raise StudyError(f"{err}") from None
    return real


def create_study(cfg: StudyConfig) -> dict:
    """Create the study; returns a summary (name, folder, images, strata, practice, attention checks).

    The images are copied into ``cfg.folder`` (created; it must not exist) under names chosen here,
    and served only from there. Nothing is left behind if any step fails.
    """
    if not NAME_RE.match(cfg.name or ""):
        raise StudyError(f"study name {cfg.name!r}: use 1-64 letters, digits, '.', '_' or '-'")
    if cfg.per_target < 1:
        raise StudyError(f"--per-target must be at least 1 (got {cfg.per_target})")
    if cfg.attention_checks < 0:
        raise StudyError(f"--attention-checks cannot be negative (got {cfg.attention_checks})")
    if not cfg.runs:
        raise StudyError("give at least one run directory with --from")
    if not cfg.consent_text.strip():
        raise StudyError("the consent text is empty")
    folder = Path(cfg.folder if cfg.folder is not None else Path("studies") / cfg.name).resolve()
    Session = sessions(cfg.db, create=True)  # the one command that may start a new database
    with Session() as s:
        if s.scalar(select(Study.id).where(Study.name == cfg.name)) is not None:
            raise StudyError(f"a study named {cfg.name!r} already exists in {cfg.db}")
    if folder.exists():
        raise StudyError(f"{folder}: already exists; choose another --folder or remove it")
    chosen = sample_items(cfg.runs, cfg.per_target, cfg.seed)

    # the one folder primitive: built beside, renamed into place; on failure nothing remains
    with output_directory(folder, STUDY_KIND, marker=False) as tmp:
        rows = []
        for i, c in enumerate(chosen, 1):
            src = _verified_image(c["run"].path, c["row"])
            name = f"{i:04d}{src.suffix.lower()}"
            shutil.copyfile(src, tmp / name)
            r = c["row"]
            cat = r.get("target_category")
            rows.append(dict(
                file=name, practice=False, source_run=str(c["run"].path), source_file=str(r["file"]),
                target=c["target"], target_category=cat if isinstance(cat, str) and cat else None,
                target_valence=_num(r.get("target_valence")), target_arousal=_num(r.get("target_arousal")),
                target_dominance=_num(r.get("target_dominance")),
                pred_category=r.get("category") if isinstance(r.get("category"), str) else None,
                pred_valence=_num(r.get("valence")), pred_arousal=_num(r.get("arousal")),
                pred_dominance=_num(r.get("dominance"))))
        practice = {p.name: p for p in sample_paths()}
        for j, pname in enumerate(PRACTICE, 1):
            shutil.copyfile(practice[pname], tmp / f"practice-{j}.jpg")
            rows.append(dict(file=f"practice-{j}.jpg", practice=True, source_run="emosynth sample photos",
                             source_file=pname, target="practice"))
    try:
        with Session.begin() as s:
            study = Study(name=cfg.name, folder=str(folder), consent_text=cfg.consent_text.strip(),
                          completion_code=cfg.completion_code or None, attention_checks=cfg.attention_checks,
                          seed=cfg.seed, sources=json.dumps([str(Path(r).resolve()) for r in cfg.runs]))
            s.add(study)
            s.flush()
            for r in rows:
                s.add(Image(study_id=study.id, public_id=secrets.token_urlsafe(12), **r))
    except SQLAlchemyError as e:
        shutil.rmtree(folder, ignore_errors=True)
        raise StudyError(f"could not record study {cfg.name!r} in {cfg.db}: {str(e).splitlines()[0]}") from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    main = [r for r in rows if not r["practice"]]
    return {"name": cfg.name, "folder": str(folder), "images": len(main),
            "strata": len({r["target"] for r in main}), "practice": len(PRACTICE),
            "attention_checks": cfg.attention_checks, "db": cfg.db}
