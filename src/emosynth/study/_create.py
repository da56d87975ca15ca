"""``emosynth study create``: sample images from run directories and stimulus folders (``emosynth
stimuli``), stratified by target, copy them into the study's own folder and record the study in the
database.

Options beyond the plain sample: ``min_agreement`` keeps only images on which the run's held-out judges
agree with the target (``agreement``); ``content_matched`` samples whole sets of one source photo edited
toward every condition; ``lists`` deals the images into K Latin-square lists (``list_index``); the
recruiting ``platform`` and ``completion_url`` say which URL parameters identify a participant and where
the thank-you page sends them."""

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
from ..fsio import MARKER_FILE, output_directory, output_kind
from ..imageio import IMAGE_SUFFIXES, check_within, read_image
from ..rundir import IMAGES_DIR, ITEMS_FILE, Run, read_run
from ..samples import sample_paths
from ._db import DEFAULT_DB, Image, Study, sessions
from ._service import PLATFORMS

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
    """What ``create`` needs. ``per_target`` images are drawn from each (run, target) stratum.

    Attributes:
        name: The study's name: 1-64 letters, digits, '.', '_' or '-' (starting with a letter or digit).
        runs: Run directories and/or stimulus folders to sample images from.
        per_target: Images drawn from each (run, target) stratum (at least 1).
        attention_checks: Attention-check trials per participant (0 or more).
        db: The study database URL or SQLite path.
        folder: The study's own image folder (must not exist); default ``studies/<name>``.
        consent_text: The consent page's text (not empty).
        completion_code: A code shown on the thank-you page, if any.
        seed: Seed of the reproducible sample.
        extra: Extra settings (not used by ``create``).
        platform: The recruiting platform (prolific, mturk, sona or none): which URL parameters identify a
            participant.
        completion_url: An http(s) URL the thank-you page sends participants to; ``{PARAM}`` placeholders
            take the participant's parameters.
        lists: Latin-square counterbalanced lists, 1-64 (participant n gets list (n - 1) mod K).
        counterbalance_scale: Whether every second participant sees the SAM rows from 9 to 1.
        min_agreement: Keep only images whose held-out judges agree with the target at least this share
            of the time (0-1), if given.
        content_matched: Whether to sample source photos edited toward every condition.
    """

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
    platform: str = "none"  # prolific, mturk, sona or none: which URL parameters identify a participant
    completion_url: str | None = None  # http(s); {PARAM} placeholders take the participant's parameters
    lists: int = 1  # Latin-square counterbalanced lists (participant n gets list (n - 1) mod K)
    counterbalance_scale: bool = False  # every second participant sees the SAM rows from 9 to 1
    min_agreement: float | None = None  # keep images whose held-out judges agree with the target this often
    content_matched: bool = False  # sample source photos edited toward every condition

    def validate(self) -> None:
        """Check the parameters.

        Raises:
            StudyError: (one line) For a parameter out of its range.
        """
        if not NAME_RE.match(self.name or ""):
            raise StudyError(f"study name {self.name!r}: use 1-64 letters, digits, '.', '_' or '-'")
        if self.per_target < 1:
            raise StudyError(f"--per-target must be at least 1 (got {self.per_target})")
        if self.attention_checks < 0:
            raise StudyError(f"--attention-checks cannot be negative (got {self.attention_checks})")
        if not self.runs:
            raise StudyError("give at least one run directory or stimulus folder with --from")
        if not self.consent_text.strip():
            raise StudyError("the consent text is empty")
        if self.platform not in PLATFORMS:
            raise StudyError(f"--platform {self.platform!r}: choose one of {', '.join(PLATFORMS)}")
        if self.completion_url is not None:
            check_completion_url(self.completion_url)
        if not 1 <= self.lists <= 64:
            raise StudyError(f"--lists must be from 1 to 64 (got {self.lists})")
        if self.min_agreement is not None and not (np.isfinite(self.min_agreement)
                                                   and 0 <= self.min_agreement <= 1):
            raise StudyError(f"--min-agreement is a share from 0 to 1 (got {self.min_agreement})")


def check_completion_url(url: str) -> None:
    """Check that a completion URL is an absolute http(s) URL with a host ({PARAM} placeholders allowed).

    Args:
        url: The completion URL.

    Raises:
        StudyError: If it is not an http:// or https:// address with a host.
    """
    from urllib.parse import urlsplit

    probe = re.sub(r"\{[A-Za-z_][A-Za-z0-9_]*\}", "x", url.strip())
    try:
        parts = urlsplit(probe)
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.netloc or any(
            c.isspace() for c in probe):
        raise StudyError(f"--completion-url {url!r}: give an http:// or https:// address")


def _num(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


def target_label(row: pd.Series) -> str:
    """The stratum of an item: its target category and/or target V/A/D (1-9), as text.

    Args:
        row: An items.csv row (``target_category``, ``target_valence`` ... columns, V/A/D on SAM 1-9).

    Returns:
        E.g. ``"joy v=7.0 a=6.0"``, or ``"untargeted"``.
    """
    parts = []
    cat = row.get("target_category")
    if isinstance(cat, str) and cat:
        parts.append(cat)
    for dim in ("valence", "arousal", "dominance"):
        v = _num(row.get(f"target_{dim}"))
        if v is not None:
            parts.append(f"{dim[0]}={v:.1f}")
    return " ".join(parts) if parts else "untargeted"


STIMULI_FILE = "stimuli.csv"
#: items.csv columns that end in _valence / _arousal but are not a held-out judge's verdict
_NOT_JUDGES = ("target", "before", "interval", "pred", "judge")


def _cell_targets(cell: str) -> dict:
    """``valence=2,arousal=3`` -> {"target_valence": 2.0, "target_arousal": 3.0} (other names kept as text)."""
    out = {}
    for part in str(cell or "").split(","):
        k, _, v = part.partition("=")
        k = k.strip()
        if k in ("valence", "arousal", "dominance"):
            f = _num(v)
            if f is not None:
                out[f"target_{k}"] = f
        elif k in ("category", "emotion") and v.strip():
            out["target_category"] = v.strip()
    return out


def read_source(path: Path) -> tuple[Run, bool]:
    """A run directory, or a stimulus folder (``emosynth stimuli --out``: emosynth.json of kind
    ``stimuli``, stimuli.csv, images/) read as one: (run, is_stimuli). A stimulus folder's ``file``
    column (images/...) becomes a name inside images/, its ``cell`` the target.

    Args:
        path: The run directory or stimulus folder.

    Returns:
        (run, is_stimuli): the items as a ``Run``, and whether ``path`` is a stimulus folder.

    Raises:
        StudyError: If a stimulus folder's stimuli.csv is unreadable or lacks a ``file`` or ``cell`` column.
        RunDirError: If a run directory cannot be read (from ``read_run``).
    """
    path = Path(path)
    if output_kind(path) != "stimuli":
        return read_run(path), False
    try:
        items = pd.read_csv(path / STIMULI_FILE, keep_default_na=True)
    except (OSError, ValueError) as e:
        raise StudyError(f"{path / STIMULI_FILE}: unreadable stimulus table ({e.__class__.__name__})") from None
    for col in ("file", "cell"):
        if col not in items.columns:
            raise StudyError(f"{path / STIMULI_FILE}: no {col!r} column (is it an emosynth stimulus folder?)")
    items = items.copy()
    items["file"] = [str(f)[len(IMAGES_DIR) + 1:] if str(f).startswith(IMAGES_DIR + "/") else str(f)
                     for f in items["file"]]
    items["cell"] = items["cell"].fillna("").astype(str)
    for col in ("target_valence", "target_arousal", "target_dominance", "target_category"):
        vals = [_cell_targets(c).get(col) for c in items["cell"]]
        if any(v is not None for v in vals) and col not in items.columns:
            items[col] = vals
    meta = {"kind": "stimuli", "marker": MARKER_FILE}
    return Run(path=path, meta=meta, items=items), True


def held_out_judges(run: Run) -> list[str]:
    """The held-out judges of a run: the keys of run.json ``transfer`` with V/A columns in items.csv; for
    a stimulus folder, every ``<judge>_valence`` column (not a target, a prediction or an interval).

    Args:
        run: A run or stimulus folder, as ``read_source`` returns it.

    Returns:
        The judges' names (the prefixes of their ``<judge>_valence`` / ``<judge>_arousal`` columns).
    """
    cols = set(run.items.columns)
    names = list((run.meta.get("transfer") or {}).keys())
    if run.meta.get("kind") == "stimuli":
        names = sorted({c[:-len("_valence")] for c in cols if c.endswith("_valence")}
                       - {""} - set(_NOT_JUDGES))
        names = [n for n in names if not n.startswith(tuple(f"{x}_" for x in _NOT_JUDGES))]
    return [n for n in names if f"{n}_valence" in cols or f"{n}_arousal" in cols]


def agreement(row: pd.Series, judges: list[str]) -> float:
    """The share of held-out judges' verdicts that lie on the intended side of the midpoint 5, over the
    judges and the dimensions (valence, arousal) whose target is off the midpoint by at least half a
    point; NaN when there is no such verdict.

    Args:
        row: An items row with ``target_valence`` / ``target_arousal`` and the judges'
            ``<judge>_valence`` / ``<judge>_arousal`` columns (SAM 1-9).
        judges: The held-out judges' names (``held_out_judges``).

    Returns:
        The share of agreeing verdicts in [0, 1], or NaN.
    """
    hits = n = 0
    for dim in ("valence", "arousal"):
        t = _num(row.get(f"target_{dim}"))
        if t is None or abs(t - 5) < 0.5:
            continue
        for j in judges:
            v = _num(row.get(f"{j}_{dim}"))
            if v is None:
                continue
            n += 1
            hits += (v - 5) * (t - 5) > 0
    return hits / n if n else float("nan")


def _candidates(runs: list[Path], min_agreement: float | None) -> list[dict]:
    names = [Path(r).resolve().name for r in runs]
    if len(set(names)) != len(names):
        raise StudyError("two --from run directories share a folder name; give each run its own name")
    out = []
    for path in runs:
        run, is_stimuli = read_source(path)
        items = run.items.copy()
        if items.empty:
            raise StudyError(f"{path}: {'stimulus folder' if is_stimuli else 'run directory'} has no images")
        if min_agreement is not None:
            judges = held_out_judges(run)
            if not judges:
                raise StudyError(f"{path}: no held-out judges' verdicts (run.json transfer, <judge>_valence "
                                 "columns); --min-agreement needs them")
            score = np.array([agreement(r, judges) for _, r in items.iterrows()])
            keep = np.isfinite(score) & (score >= min_agreement - 1e-9)
            items["_agreement"] = score
            items = items[keep]
        for _, row in items.iterrows():
            stratum = row["cell"] if is_stimuli and row.get("cell") else target_label(row)
            src = row.get("source")
            out.append({"run": run, "row": row, "target": f"{run.path.name}: {stratum}",
                        "source": src if isinstance(src, str) and src else "",
                        "cell": str(row.get("cell") or "") if is_stimuli else ""})
    return out


def sample_items(runs: list[Path], per_target: int, seed: int, min_agreement: float | None = None,
                 content_matched: bool = False, lists: int = 1) -> list[dict]:
    """Up to ``per_target`` items from each (run, target) stratum, reproducibly for a seed; each carries
    its ``list_index`` (None with one list).

    ``content_matched``: ``per_target`` source photos among those edited toward every stratum, each
    shown in every stratum (one edit each). ``lists`` K: the item of group g (its source photo's rank
    when content-matched, else its rank within its stratum) in stratum c goes to list (g + c) mod K, a
    Latin square: each list holds about 1/K of every stratum and, content-matched with K strata, every
    photo once, in another condition in each list."""
    rng = np.random.default_rng(seed)
    cands = _candidates(runs, min_agreement)
    if not cands:
        raise StudyError(f"no images left to sample: none reaches --min-agreement {min_agreement}")
    strata = sorted({c["target"] for c in cands})
    by_stratum = {t: [c for c in cands if c["target"] == t] for t in strata}
    chosen = []
    if content_matched:
        if not any(c["source"] for c in cands):
            raise StudyError("--content-matched needs photo edits: the items have no 'source' column")
        common = set.intersection(*({c["source"] for c in group if c["source"]} for group in by_stratum.values()))
        if not common:
            raise StudyError(f"--content-matched: no source photo appears in every one of the {len(strata)} "
                             "conditions" + (" that reach --min-agreement" if min_agreement is not None else ""))
        photos = sorted(common)
        picked = sorted(rng.choice(len(photos), size=min(per_target, len(photos)), replace=False))
        for g, k in enumerate(picked):
            for c_idx, t in enumerate(strata):
                options = [c for c in by_stratum[t] if c["source"] == photos[k]]
                c = options[int(rng.integers(len(options)))]
                chosen.append(c | {"list_index": (g + c_idx) % lists if lists > 1 else None})
        return chosen
    for c_idx, t in enumerate(strata):
        group = by_stratum[t]
        k = min(per_target, len(group))
        idx = np.sort(rng.choice(len(group), size=k, replace=False))
        for g, i in enumerate(idx):
            chosen.append(group[i] | {"list_index": (g + c_idx) % lists if lists > 1 else None})
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
    """Create the study: sample its images, copy them into its folder and record it in the database.

    The images are copied into ``cfg.folder`` (created; it must not exist) under names chosen here,
    and served only from there. Nothing is left behind if any step fails.

    Args:
        cfg: The study's configuration.

    Returns:
        A summary: name, folder, images, strata, practice, attention_checks, db, platform, lists and
        sources (the number of distinct source photos).

    Raises:
        StudyError: For an invalid configuration, an existing folder or study name, unusable sources
            (no images, none left to sample) or a database that cannot record the study.
    """
    cfg.validate()
    folder = Path(cfg.folder if cfg.folder is not None else Path("studies") / cfg.name).resolve()
    if folder.exists():
        raise StudyError(f"{folder}: already exists; choose another --folder or remove it")
    # every input is read and checked before the database is opened (a new SQLite file is a write)
    chosen = sample_items(cfg.runs, cfg.per_target, cfg.seed, cfg.min_agreement, cfg.content_matched, cfg.lists)
    if cfg.lists > 1:
        empty = sorted(set(range(cfg.lists)) - {c["list_index"] for c in chosen})
        if empty:
            raise StudyError(f"--lists {cfg.lists}: list {empty[0] + 1} would be empty ({len(chosen)} images); "
                             "use fewer lists or more images per target")
    Session = sessions(cfg.db, create=True)  # the one command that may start a new database
    with Session() as s:
        if s.scalar(select(Study.id).where(Study.name == cfg.name)) is not None:
            raise StudyError(f"a study named {cfg.name!r} already exists in {cfg.db}")

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
                pred_dominance=_num(r.get("dominance")), cell=c["cell"], source=c["source"],
                list_index=c["list_index"]))
        practice = {p.name: p for p in sample_paths()}
        for j, pname in enumerate(PRACTICE, 1):
            shutil.copyfile(practice[pname], tmp / f"practice-{j}.jpg")
            rows.append(dict(file=f"practice-{j}.jpg", practice=True, source_run="emosynth sample photos",
                             source_file=pname, target="practice"))
    try:
        with Session.begin() as s:
            study = Study(name=cfg.name, folder=str(folder), consent_text=cfg.consent_text.strip(),
                          completion_code=cfg.completion_code or None, attention_checks=cfg.attention_checks,
                          seed=cfg.seed, sources=json.dumps([str(Path(r).resolve()) for r in cfg.runs]),
                          platform=cfg.platform, completion_url=(cfg.completion_url or "").strip() or None,
                          lists=cfg.lists, counterbalance_scale=cfg.counterbalance_scale)
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
            "attention_checks": cfg.attention_checks, "db": cfg.db, "platform": cfg.platform,
            "lists": cfg.lists, "sources": len({r["source"] for r in main if r["source"]})}
