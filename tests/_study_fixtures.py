"""Small real run directories for the study tests: crops of the packaged sample photos (CC0), with
VA targets (a VA run) and a category target (a category run), written with ``emosynth.rundir``."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image
from sqlalchemy.orm import Mapped  # the legacy models' annotations resolve here

from emosynth.rundir import run_header, write_items, write_png, write_run
from emosynth.samples import sample_paths

VA_TARGETS = [(2.0, 2.0), (2.0, 8.0), (8.0, 2.0), (8.0, 8.0)]


def _crops(n: int, size: int = 96, offset: int = 0) -> list[np.ndarray]:
    photos = [np.asarray(Image.open(p).convert("RGB").resize((2 * size, 2 * size))) for p in sample_paths()]
    out = []
    for i in range(n):
        ph = photos[(i + offset) % len(photos)]
        y, x = ((i // len(photos)) % 2) * size, ((i // (2 * len(photos))) % 2) * size
        out.append(ph[y:y + size, x:x + size])
    return out


def make_runs(root: Path, per_target: int = 2) -> list[Path]:
    """Two run directories under ``root``: 'va-pixels' (4 VA targets x per_target images, predicted
    V/A/D beside each) and 'fearful' (target category fear, with a target V/A/D)."""
    va = root / "va-pixels"
    rows = []
    for i, img in enumerate(_crops(len(VA_TARGETS) * per_target)):
        tv, ta = VA_TARGETS[i % len(VA_TARGETS)]
        f = f"elite_{i:03d}.png"
        write_png(va / "images" / f, img)
        rows.append({"file": f, "target_valence": tv, "target_arousal": ta, "category": "joy",
                     "valence": 5 + 0.3 * (tv - 5) + 0.1 * i, "arousal": 5 + 0.2 * (ta - 5), "dominance": 5.0,
                     "fitness": -0.5, "cell": i % len(VA_TARGETS), "p_joy": 0.6, "p_fear": 0.4})
    write_items(va, rows)
    write_run(va, {**run_header("evolve", None, {}, 1, ["default"], method="map-elites"), "space": {"name": "va"}})
    fe = root / "fearful"
    rows = []
    for i, img in enumerate(_crops(3, offset=1)):
        f = f"fear_{i}.png"
        write_png(fe / "images" / f, img)
        rows.append({"file": f, "target_category": "fear", "target_valence": 2.5, "target_arousal": 7.0,
                     "target_dominance": 3.0, "category": "fear", "valence": 3.1 + 0.2 * i, "arousal": 5.5,
                     "dominance": 4.2, "fitness": 0.3, "p_joy": 0.2, "p_fear": 0.8})
    write_items(fe, rows)
    write_run(fe, run_header("generator", None, {}, 2, ["default"]))
    return [va, fe]


EDIT_TARGETS = [(2.0, 2.0), (2.0, 8.0), (8.0, 2.0), (8.0, 8.0)]


def make_edit_run(root: Path) -> Path:
    """A photo-edit run 'edits' (as ``emosynth edit`` writes it: a ``source`` column naming the input photo,
    held-out judges ``lite2``/``ou`` in run.json ``transfer`` and their V/A per image): photos p0-p3 each
    edited toward the four VA targets, except p3, never edited toward (8, 8). The held-out verdicts are
    on the target's side for every edit of p0 and p1, against it on valence for p2's, and mixed for p3's."""
    run = root / "edits"
    crops = _crops(16, offset=2)
    rows = []
    k = 0
    for ph in range(4):
        for ti, (tv, ta) in enumerate(EDIT_TARGETS):
            if ph == 3 and ti == 3:
                continue
            f = f"p{ph}_{ti}.png"
            write_png(run / "images" / f, crops[k])
            k += 1
            side_v = 1.0 if tv > 5 else -1.0
            side_a = 1.0 if ta > 5 else -1.0
            if ph == 2:
                side_v = -side_v  # both judges disagree on valence
            lite_v, ou_v = 5 + 1.5 * side_v, 5 + 1.0 * side_v
            if ph == 3:
                ou_v = 5 - 1.0 * (1.0 if tv > 5 else -1.0)  # one judge of two disagrees on valence
            rows.append({"file": f, "source": f"photos/p{ph}.jpg", "target_valence": tv, "target_arousal": ta,
                         "valence": 5 + 0.4 * (tv - 5), "arousal": 5 + 0.3 * (ta - 5), "dominance": 5.0,
                         "ssim": 0.8, "lite2_valence": lite_v, "lite2_arousal": 5 + 1.2 * side_a,
                         "ou_valence": ou_v, "ou_arousal": 5 + 0.8 * side_a})
    write_items(run, rows)
    head = run_header("edit", None, {}, 3, ["default"], method="photo-edit")
    head["transfer"] = {"lite2": {"judge": "lite2", "n": len(rows)}, "ou": {"judge": "ou", "n": len(rows)}}
    write_run(run, head)
    return run


def make_stimulus_folder(root: Path) -> Path:
    """A stimulus folder in the layout ``emosynth stimuli --out`` writes (CONTRACTS "Stimulus folder"):
    emosynth.json (kind stimuli), images/*.png, stimuli.csv (file images/..., cell, source_run, source_file,
    source, predicted V/A/D with intervals, each judge's V/A, balanced features), balance.md, methods.md;
    a valence=2,5,8 x arousal=3,7 design, two images per cell."""
    import pandas as pd

    from emosynth.fsio import mark_output

    out = root / "stimuli-pilot"
    rows = []
    crops = _crops(12, offset=3)
    k = 0
    for v in (2, 5, 8):
        for a in (3, 7):
            for j in range(2):
                f = f"images/v{v}a{a}_{j}.png"
                write_png(out / f, crops[k])
                rows.append({"file": f, "cell": f"valence={v},arousal={a}", "source_run": "runs/atlas",
                             "source_file": f"elite_{k:03d}.png", "source": "", "valence": v + 0.3 * (j - 0.5),
                             "arousal": a + 0.2, "dominance": 5.0, "interval_valence_lo": v - 1.0,
                             "interval_valence_hi": v + 1.0, "lite2_valence": v + 0.5, "lite2_arousal": a - 0.5,
                             "ou_valence": v - 0.2, "ou_arousal": a, "luminance": 0.4 + 0.01 * k,
                             "contrast": 0.2})
                k += 1
    pd.DataFrame(rows).to_csv(out / "stimuli.csv", index=False)
    (out / "balance.md").write_text("# Balance\n")
    (out / "methods.md").write_text("# Methods\n")
    mark_output(out, "stimuli")
    return out


def legacy_schema_v1(url: str) -> None:
    """Make the study tables exactly as emosynth's ``create_all`` made them before it had migrations (a
    verbatim copy of that release's ``study/_db.py`` models, in their own metadata), with one study, one
    participant and one rating in them."""
    from sqlalchemy import (
        Boolean,
        CheckConstraint,
        DateTime,
        Float,
        ForeignKey,
        Integer,
        String,
        Text,
        UniqueConstraint,
        create_engine,
        insert,
    )
    from sqlalchemy.orm import DeclarativeBase, mapped_column

    def now():
        return datetime.now(timezone.utc)

    class Base(DeclarativeBase):
        pass

    class Study(Base):
        __tablename__ = "studies"
        id: Mapped[int] = mapped_column(Integer, primary_key=True)
        name: Mapped[str] = mapped_column(String(100), unique=True)
        created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
        folder: Mapped[str] = mapped_column(Text)
        consent_text: Mapped[str] = mapped_column(Text)
        completion_code: Mapped[str | None] = mapped_column(String(200), nullable=True)
        attention_checks: Mapped[int] = mapped_column(Integer, default=0)
        seed: Mapped[int] = mapped_column(Integer, default=0)
        sources: Mapped[str] = mapped_column(Text, default="[]")
        paused: Mapped[bool] = mapped_column(Boolean, default=False)

    class Image(Base):
        __tablename__ = "images"
        id: Mapped[int] = mapped_column(Integer, primary_key=True)
        study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
        public_id: Mapped[str] = mapped_column(String(40), unique=True)
        file: Mapped[str] = mapped_column(String(100))
        practice: Mapped[bool] = mapped_column(Boolean, default=False)
        source_run: Mapped[str] = mapped_column(Text, default="")
        source_file: Mapped[str] = mapped_column(Text, default="")
        target: Mapped[str] = mapped_column(Text, default="")
        target_category: Mapped[str | None] = mapped_column(String(40), nullable=True)
        target_valence: Mapped[float | None] = mapped_column(Float, nullable=True)
        target_arousal: Mapped[float | None] = mapped_column(Float, nullable=True)
        target_dominance: Mapped[float | None] = mapped_column(Float, nullable=True)
        pred_category: Mapped[str | None] = mapped_column(String(40), nullable=True)
        pred_valence: Mapped[float | None] = mapped_column(Float, nullable=True)
        pred_arousal: Mapped[float | None] = mapped_column(Float, nullable=True)
        pred_dominance: Mapped[float | None] = mapped_column(Float, nullable=True)

    class Participant(Base):
        __tablename__ = "participants"
        id: Mapped[int] = mapped_column(Integer, primary_key=True)
        study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
        number: Mapped[int] = mapped_column(Integer)
        token: Mapped[str] = mapped_column(String(64), unique=True)
        created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
        consented_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
        instructed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
        finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
        __table_args__ = (UniqueConstraint("study_id", "number"),)

    class Trial(Base):
        __tablename__ = "trials"
        id: Mapped[int] = mapped_column(Integer, primary_key=True)
        participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
        position: Mapped[int] = mapped_column(Integer)
        kind: Mapped[str] = mapped_column(String(12))
        image_id: Mapped[int] = mapped_column(ForeignKey("images.id"))
        __table_args__ = (UniqueConstraint("participant_id", "position"),
                          CheckConstraint("kind IN ('practice', 'main', 'attention')"))

    class Rating(Base):
        __tablename__ = "ratings"
        id: Mapped[int] = mapped_column(Integer, primary_key=True)
        participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
        trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id"))
        valence: Mapped[int] = mapped_column(Integer)
        arousal: Mapped[int] = mapped_column(Integer)
        dominance: Mapped[int] = mapped_column(Integer)
        created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
        __table_args__ = (UniqueConstraint("participant_id", "trial_id"),
                          CheckConstraint("valence BETWEEN 1 AND 9 AND arousal BETWEEN 1 AND 9 "
                                          "AND dominance BETWEEN 1 AND 9"))

    eng = create_engine(url)
    Base.metadata.create_all(eng)
    t = now()
    with eng.begin() as c:
        c.execute(insert(Study.__table__).values(id=1, name="old", created_at=t, folder="/nonexistent",
                                                 consent_text="ok", attention_checks=0, seed=0, sources="[]",
                                                 paused=False))
        c.execute(insert(Image.__table__), [dict(id=i, study_id=1, public_id=f"img{i}", file=f"{i:04d}.png",
                                                 practice=False, source_run="r", source_file=f"{i}.png",
                                                 target="t") for i in (1, 2)])
        c.execute(insert(Participant.__table__).values(id=1, study_id=1, number=1, token="tok-old", created_at=t,
                                                       consented_at=t, instructed_at=t))
        c.execute(insert(Trial.__table__), [dict(id=i, participant_id=1, position=i - 1, kind="main", image_id=i)
                                            for i in (1, 2)])
        c.execute(insert(Rating.__table__).values(participant_id=1, trial_id=1, valence=3, arousal=4, dominance=5,
                                                  created_at=t))
    eng.dispose()
