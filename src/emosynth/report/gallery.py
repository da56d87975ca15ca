"""The exhibition gallery: run directories in, a static site out (plain HTML, CSS and a little JS).

The site opens from disk (``file://``) or from any web server; it needs no server-side code and
no network. Everything a page shows is in the page itself (no ``fetch``), so it works from disk.

```
SITE/index.html              the runs: what made each, its headline figures, a preview
SITE/gallery.css, gallery.js shared by every page
SITE/<run>/index.html        a VA(D) run: its images on the valence–arousal plane at their predicted
                             positions; a category run: one panel per emotion, sortable
SITE/<run>/item/<name>.html  one page per image: full size, emotion, genome/condition, command
SITE/<run>/thumbs/<name>.jpg thumbnails made at build time (the full images load on demand)
SITE/<run>/atlas/<k>.jpg     a VA(D) run's images as 64 px tiles, 1,024 to a sheet, for the plane
SITE/<run>/images/…          the full images, run.json and items.csv, for download
```

Only run directories are read (``emosynth.rundir``): the gallery knows nothing of how a run was
made beyond what its ``run.json`` and ``items.csv`` say, so a method it has never seen (a
generator, a data set's ratings) still shows, with whatever its ``run.json`` holds.
V, A and D are on the SAM 1–9 scale throughout.
"""

from __future__ import annotations

import html
import json
import math
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import quote

import numpy as np
import pandas as pd

from .. import __version__
from ..emotions import SAM_MAX, SAM_MIN
from ..errors import EmosynthError, RunDirError
from ..fsio import check_output, output_directory
from ..imageio import image_size, read_image
from ..rundir import IMAGES_DIR, ITEMS_FILE, RUN_FILE, Run, read_run

#: marks a folder as a gallery this module built, so a rebuild may replace it (and nothing else)
MARKER = ".emosynth-gallery"
#: the ownership kind of a gallery site (``emosynth.fsio``); ``MARKER`` is read by earlier versions
GALLERY_KIND = "gallery"
THUMB_SIZE = 128  # px, longest side (panels, index previews)
#: The plane draws its images on a canvas from atlases (square tiles, ATLAS_COLUMNS² to an atlas):
#: one request and one decode per atlas instead of one per image. Measured on a loaded 2-core
#: machine, 2,000 images as separate <img>s took 7 s (from disk) to 16 s (Python's http.server) to
#: arrive, and as CSS background tiles of an atlas a minute to first paint; on a canvas, under a second.
#: The focusable links over the canvas carry the emotion data (and the alt text, as aria-label).
ATLAS_TILE = 64
ATLAS_COLUMNS = 32

#: Each Emotion6 category's rated (valence, arousal) centroid: the 1,980 images' mean ratings weighted
#: by the raters' category distribution (``stats.category_centroids`` on ``ground_truth.txt``;
#: tests/test_gallery.py recomputes them). The plane is shaded by the nearest centroid, the mapping
#: from VA to a category that the comparison study scores.
EMOTION6_VA_CENTROIDS = {
    "anger": (3.69, 5.24), "disgust": (3.44, 4.85), "fear": (3.88, 5.15), "joy": (6.62, 5.25),
    "sadness": (3.81, 4.69), "surprise": (6.00, 5.34), "neutral": (5.24, 4.96),
}
COLOURS = {"anger": "#d62728", "disgust": "#6b8e23", "fear": "#8c56b4", "joy": "#f0b400",
           "sadness": "#1f77b4", "surprise": "#ff7f0e", "neutral": "#8c8c8c"}
_PALETTE = ("#17becf", "#e377c2", "#bcbd22", "#7f7f7f", "#9467bd", "#2ca02c")

_NUMERIC = ("target_valence", "target_arousal", "target_dominance", "valence", "arousal", "dominance", "fitness")
_VAD = ("valence", "arousal", "dominance")
_WORDS = {"valence": ("unpleasant", "pleasant"), "arousal": ("calm", "excited"),
          "dominance": ("controlled", "in control")}


class GalleryError(EmosynthError):
    """An output folder the gallery may not write to, or runs it cannot show."""


# ---------------------------------------------------------------------------- reading runs


@dataclass
class _Item:
    row: dict                # the items.csv row (NaN → None)
    file: str                # path under the run's images/
    page: str                # the detail page's name (no suffix), unique within the run
    size: tuple[int, int]    # full image (width, height)
    thumb_size: tuple[int, int]
    tile: tuple[int, int, int] | None = None  # the plane's atlas: (atlas, column, row)
    #: a photo edit's original (items.csv ``source``): its copy under the site's run folder
    #: (``sources/<name>.jpg``), or "" when the row names a source that could not be read
    before: str | None = None


@dataclass
class _RunView:
    run: Run
    slug: str
    view: str                # "plane" or "panels"
    labels: list[str]
    items: list[_Item] = field(default_factory=list)
    #: held-out judges with V/A columns in items.csv (``<judge>_valence`` / ``<judge>_arousal``)
    judges: list[str] = field(default_factory=list)

    @property
    def meta(self) -> dict:
        return self.run.meta


def _num(x) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _clean(v):
    if v is None:
        return None
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (np.floating,)):
        return _clean(float(v))
    if isinstance(v, (np.integer,)):
        return int(v)
    return v


def _check_items(run: Run) -> pd.DataFrame:
    """The numeric columns as numbers on their scales, or one RunDirError naming column and row."""
    items = run.items.copy()
    where = run.path / ITEMS_FILE
    cols = [c for c in items.columns if c in _NUMERIC or c.startswith("p_")]
    for c in cols:
        values = pd.to_numeric(items[c], errors="coerce")
        bad = values.isna() & items[c].notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise RunDirError(f"{where} row {i + 2}: {c} {items[c].iloc[i]!r} is not a number")
        items[c] = values
        lo, hi = ((0.0, 1.0) if c.startswith("p_") else (SAM_MIN, SAM_MAX) if c != "fitness" else (-np.inf, np.inf))
        off = (values < lo - 1e-6) | (values > hi + 1e-6)
        if off.any():
            i = int(np.flatnonzero(off.to_numpy())[0])
            scale = "a probability (0-1)" if c.startswith("p_") else "on the SAM 1-9 scale"
            raise RunDirError(f"{where} row {i + 2}: {c} {values.iloc[i]} is not {scale}")
    if items["file"].isna().any():
        i = int(np.flatnonzero(items["file"].isna().to_numpy())[0])
        raise RunDirError(f"{where} row {i + 2}: empty file name")
    for i, f in enumerate(items["file"].astype(str)):
        p = Path(f)
        if p.is_absolute() or ".." in p.parts:
            raise RunDirError(f"{where} row {i + 2}: file {f!r} is not a path inside {IMAGES_DIR}/")
    if items["file"].duplicated().any():
        f = items["file"][items["file"].duplicated()].iloc[0]
        raise RunDirError(f"{where}: file {f!r} is listed twice")
    return items


def _space_name(meta: dict) -> str | None:
    s = meta.get("space")
    if isinstance(s, dict):
        return s.get("name")
    return s if isinstance(s, str) else None


def _choose_view(meta: dict, items: pd.DataFrame) -> str:
    space = _space_name(meta)
    if space in ("va", "vad"):
        return "plane"
    if space == "category":
        return "panels"
    has = lambda *cs: all(items[c].notna().any() for c in cs)  # noqa: E731
    if has("target_valence", "target_arousal"):
        return "plane"
    if has("target_category"):
        return "panels"
    return "plane" if has("valence", "arousal") else "panels"


def _slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return s or "run"


def _unique(name: str, taken: set[str]) -> str:
    out, k = name, 2
    while out.lower() in taken:
        out, k = f"{name}-{k}", k + 1
    taken.add(out.lower())
    return out


def _read(paths: list[Path]) -> list[_RunView]:
    if not paths:
        raise GalleryError("no run directories given; pass one or more folders holding run.json")
    seen, taken, views = set(), {"index", "gallery"}, []
    for p in paths:
        key = Path(p).resolve()
        if key in seen:
            raise GalleryError(f"{p}: run directory given twice")
        seen.add(key)
        run = read_run(p)
        run.items = _check_items(run)
        labels = run.categories
        views.append(_RunView(run, _unique(_slug(key.name), taken), _choose_view(run.meta, run.items), labels,
                              judges=held_out_judges(run.meta, run.items)))
    return views


#: column prefixes ``<x>_valence`` that are not a held-out judge's
_NOT_JUDGES = ("target", "before", "measure", "interval")


def held_out_judges(meta: dict, items: pd.DataFrame) -> list[str]:
    """The held-out judges whose V/A items.csv carries: the per-judge entries of run.json ``transfer``
    (``{"lite2": {"judge": ..., "r_valence": ...}, ...}``) with a ``<judge>_valence`` or ``_arousal``
    column, then any other such column pair (runs whose transfer names no judge)."""
    cols = set(items.columns)
    has = lambda j: f"{j}_valence" in cols or f"{j}_arousal" in cols  # noqa: E731
    t = meta.get("transfer") if isinstance(meta.get("transfer"), dict) else {}
    out = [k for k, v in t.items() if isinstance(v, dict) and has(k)]
    for c in items.columns:
        for d in ("_valence", "_arousal"):
            j = c[: -len(d)] if c.endswith(d) else None
            if (j and j not in out and not j.startswith(_NOT_JUDGES) and not j.startswith("judge_")
                    and not j.endswith("_before") and items[c].notna().any()):
                out.append(j)
    return out


# ---------------------------------------------------------------------------- words and numbers


def _f(v, digits=2) -> str:
    v = _num(v)
    return "–" if v is None else f"{v:.{digits}f}"


def _word(dim: str, v: float | None) -> str:
    if v is None:
        return ""
    low, high = _WORDS[dim]
    return low if v < 4.0 else high if v > 6.0 else f"neither {low} nor {high}"


def _target_text(row: dict) -> str:
    parts = []
    if row.get("target_category"):
        parts.append(str(row["target_category"]))
    dims = [f"{d} {_f(row.get('target_' + d))}" for d in _VAD if _num(row.get("target_" + d)) is not None]
    if dims:
        parts.append(", ".join(dims))
    extra = [f"{k[7:]} {row[k]}" for k in row if k.startswith("target_") and k[7:] not in (*_VAD, "category")
             and row[k] is not None]
    parts += extra
    return "; ".join(parts) if parts else "none recorded"


def _top(row: dict, labels: list[str]) -> tuple[str | None, float | None]:
    ps = [(lab, _num(row.get("p_" + lab))) for lab in labels]
    ps = [(lab, p) for lab, p in ps if p is not None]
    if not ps:
        return (row.get("category") or None), None
    return max(ps, key=lambda t: t[1])


def _alt(row: dict, labels: list[str]) -> str:
    """Alt text from the emotion data: what the image was made for and what the model sees in it."""
    bits = []
    for d in _VAD:
        v = _num(row.get(d))
        if v is not None:
            bits.append(f"{_word(d, v)} ({d} {v:.1f})")
    cat, p = _top(row, labels)
    if cat:
        bits.append(f"most likely {cat}" + (f" (p {p:.2f})" if p is not None else ""))
    seen = "; ".join(bits) if bits else "no prediction recorded"
    return f"Image for target {_target_text(row)}. Predicted: {seen}."


# ---------------------------------------------------------------------------- headline figures


def _date(run: Run) -> str:
    for k in ("date", "created", "finished", "timestamp"):
        if isinstance(run.meta.get(k), str):
            return run.meta[k]
    t = (run.path / RUN_FILE).stat().st_mtime
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _accuracy(items: pd.DataFrame, labels: list[str]) -> str | None:
    """Emotion accuracy from items.csv: share of images whose most likely category is their target
    category; for V/A targets, the mean distance (1–9 scale points) between target and prediction."""
    t = items["target_category"]
    rows = items[t.notna()]
    if len(rows) and labels:
        probs = rows[[f"p_{c}" for c in labels]].to_numpy(float)
        ok = np.isfinite(probs).all(1)
        if ok.any():
            top = np.array(labels)[probs[ok].argmax(1)]
            hit = (top == rows["target_category"].astype(str).to_numpy()[ok]).mean()
            return (f"{hit:.0%} of {int(ok.sum())} images most likely their target category "
                    f"(chance {1 / len(labels):.0%})")
    dims = [d for d in _VAD if items[f"target_{d}"].notna().any() and items[d].notna().any()]
    if dims:
        err = np.sqrt(sum((items[d] - items[f"target_{d}"]) ** 2 for d in dims)).dropna()
        if len(err):
            dims_text = "/".join(d[0].upper() for d in dims)
            return f"mean distance to target {err.mean():.2f} scale points ({dims_text}, 1-9)"
    return None


def _transfer(t) -> str | None:
    """run.json ``transfer`` in words: per held-out judge (``{"lite2": {"r_valence": ...}, ...}``), or the
    flat keys of runs from before per-judge transfer (``check_model``, ``r_valence``, ``agreement``)."""
    if not isinstance(t, dict):
        return None
    per = [(k, v) for k, v in t.items() if isinstance(v, dict)]
    if per:
        parts = []
        for name, e in per:
            if _num(e.get("agreement")) is not None:
                chance = f" (chance {e['chance']:.0%})" if _num(e.get("chance")) is not None else ""
                parts.append(f"{name}: agrees on {e['agreement']:.0%} of elites{chance}")
                continue
            rs = [f"{k[2:]} r {v:.2f}" for k, v in e.items()
                  if k.startswith("r_") and not k.endswith(("_judge", "_objective")) and _num(v) is not None]
            maes = [f"{k[4:]} MAE {v:.2f}" for k, v in e.items() if k.startswith("mae_") and _num(v) is not None]
            text = ", ".join(rs + maes) or (e.get("note") if isinstance(e.get("note"), str) else None)
            if text:
                parts.append(f"{name}: {text}")
        if parts:
            return "held out — " + "; ".join(parts)
    who = f" under {t['check_model']}" if t.get("check_model") else ""
    if _num(t.get("agreement")) is not None:
        chance = f" (chance {t['chance']:.0%})" if _num(t.get("chance")) is not None else ""
        return f"agrees on {t['agreement']:.0%} of elites{chance}{who}"
    rs = [f"{k[2:]} r {v:.2f}" for k, v in t.items()
          if k.startswith("r_") and not k.endswith("_judge") and _num(v) is not None]
    return (", ".join(rs) + who) if rs else None


def _scalar(v) -> str | None:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else None
    if isinstance(v, str) and v and len(v) < 200:
        return v
    if isinstance(v, list) and v and all(isinstance(x, (str, int, float)) for x in v) and len(v) <= 8:
        return ", ".join(map(str, v))
    return None


def _facts(rv: _RunView) -> list[tuple[str, str]]:
    """(label, value) pairs for the index: what made the run and its headline figures."""
    meta, items = rv.meta, rv.run.items
    m = meta.get("metrics") if isinstance(meta.get("metrics"), dict) else {}
    space = meta.get("space")
    facts: list[tuple[str, str | None]] = [
        ("method", _scalar(meta["method"])),  # read_run checked the header (rundir.run_header)
        ("space", (f"{space['name']} ({space.get('cells')} cells)" if isinstance(space, dict) and space.get("name")
                   else _scalar(space))),
    ]
    enc = meta.get("encoding")
    if isinstance(enc, dict):
        shown = ", ".join(f"{k} {v}" for k, v in enc.items() if k != "name" and _scalar(v))
        facts.append(("encoding", f"{enc.get('name', '?')}" + (f" ({shown})" if shown else "")))
    else:
        facts.append(("encoding", _scalar(enc)))
    facts += [("model", ", ".join(meta["model"])),
              ("seed", _scalar(meta["seed"])),
              ("date", _date(rv.run)),
              ("images", f"{len(items):,}")]
    if _num(m.get("coverage")) is not None:
        cells = f" ({m['filled']} of {space['cells']} cells)" if isinstance(space, dict) and "filled" in m else ""
        facts.append(("coverage", f"{m['coverage']:.0%}{cells}"))
    if _num(m.get("qd_score")) is not None:
        facts.append(("QD-score", f"{m['qd_score']:.2f}"))
    acc = _num(m.get("accuracy"))
    facts.append(("emotion accuracy", f"{acc:.0%} (run.json)" if acc is not None else _accuracy(items, rv.labels)))
    facts.append(("transfer", _transfer(meta.get("transfer"))))
    if isinstance(meta.get("rated"), dict) and _num(meta["rated"].get("coverage")) is not None:
        r = meta["rated"]
        facts.append(("rated cells filled", f"{r['coverage']:.0%} ({r['filled']} of {r['cells']})"))
    # Whatever else a run of another kind records (a generator's settings, a data set's source).
    known = {"method", "kind", "space", "encoding", "model", "model_id", "seed", "date", "created", "finished",
             "timestamp", "metrics", "transfer", "rated", "command", "config", "history", "model_dirs",
             "complete", "emosynth_version"}
    for k, v in meta.items():
        if k not in known and _scalar(v):
            facts.append((k.replace("_", " "), _scalar(v)))
    for k, v in m.items():
        if k not in ("coverage", "qd_score", "accuracy", "filled", "iteration", "seconds") and _scalar(v):
            facts.append((k.replace("_", " "), _scalar(v)))
    facts.append(("emosynth", str(meta["emosynth_version"])))
    return [(k, v) for k, v in facts if v]


def _command(meta: dict) -> str | None:
    c = meta.get("command")
    if isinstance(c, list):
        import shlex

        return shlex.join(map(str, c))
    return c if isinstance(c, str) and c.strip() else None


# ---------------------------------------------------------------------------- the plane's regions


def _clip(poly: list[tuple[float, float]], a: np.ndarray, b: float) -> list[tuple[float, float]]:
    """Sutherland–Hodgman: the part of ``poly`` where a·x <= b."""
    out = []
    for i, p in enumerate(poly):
        q = poly[(i + 1) % len(poly)]
        fp, fq = a @ p - b, a @ q - b
        if fp <= 0:
            out.append(p)
        if (fp < 0 < fq) or (fq < 0 < fp):
            t = fp / (fp - fq)
            out.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
    return out


def category_regions(centroids: dict[str, tuple[float, float]]) -> dict[str, list[tuple[float, float]]]:
    """Each category's region of the 1–9 VA square: the points nearer its centroid than any other's.

    Args:
        centroids: Category name → its (valence, arousal) centroid on SAM 1–9.

    Returns:
        Category name → its region's polygon, as (valence, arousal) vertices on SAM 1–9; a category
        with an empty region is left out.
    """
    square = [(SAM_MIN, SAM_MIN), (SAM_MAX, SAM_MIN), (SAM_MAX, SAM_MAX), (SAM_MIN, SAM_MAX)]
    out = {}
    for name, c in centroids.items():
        poly = [tuple(map(float, p)) for p in square]
        c = np.asarray(c, float)
        for other, o in centroids.items():
            if other == name:
                continue
            o = np.asarray(o, float)
            # |x - c|² <= |x - o|²  ⇔  2(o - c)·x <= |o|² - |c|²
            poly = _clip(poly, 2 * (o - c), float(o @ o - c @ c))
            if not poly:
                break
        if poly:
            out[name] = poly
    return out


def _area_centroid(poly: list[tuple[float, float]]) -> tuple[float, float]:
    p = np.asarray(poly, float)
    x, y = p[:, 0], p[:, 1]
    cross = x * np.roll(y, -1) - np.roll(x, -1) * y
    area = cross.sum() / 2
    if abs(area) < 1e-12:
        return float(x.mean()), float(y.mean())
    return (float(((x + np.roll(x, -1)) * cross).sum() / (6 * area)),
            float(((y + np.roll(y, -1)) * cross).sum() / (6 * area)))


def _colour(label: str, i: int) -> str:
    return COLOURS.get(label, _PALETTE[i % len(_PALETTE)])


def _plane_svg() -> str:
    """The plane's background: category regions, grid lines every scale point."""
    def xy(v, a):
        return (v - SAM_MIN) / (SAM_MAX - SAM_MIN) * 1000, (SAM_MAX - a) / (SAM_MAX - SAM_MIN) * 1000

    parts = ['<svg class="regions" viewBox="0 0 1000 1000" aria-hidden="true" focusable="false">']
    for i, (name, poly) in enumerate(category_regions(EMOTION6_VA_CENTROIDS).items()):
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(*p) for p in poly))
        parts.append(f'<polygon class="region" data-category="{name}" points="{pts}" '
                     f'fill="{_colour(name, i)}"/>')
    for k in range(1, 8):
        g = k * 125
        parts.append(f'<line class="grid" x1="{g}" y1="0" x2="{g}" y2="1000"/>'
                     f'<line class="grid" x1="0" y1="{g}" x2="1000" y2="{g}"/>')
    for name, (v, a) in EMOTION6_VA_CENTROIDS.items():
        x, y = xy(v, a)
        parts.append(f'<circle class="centroid" cx="{x:.1f}" cy="{y:.1f}" r="5"/>')
    for name, poly in category_regions(EMOTION6_VA_CENTROIDS).items():
        x, y = xy(*_area_centroid(poly))
        parts.append(f'<text class="region-name" x="{x:.1f}" y="{y:.1f}">{_e(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _region_legend() -> str:
    swatches = "".join(f'<li><span class="swatch" style="background:{_colour(n, i)}"></span>{n}</li>'
                       for i, n in enumerate(EMOTION6_VA_CENTROIDS))
    return (f'<ul class="legend" aria-label="category regions">{swatches}</ul>'
            '<p class="note">Shaded: the category whose Emotion6 rated centroid (dot) lies nearest, the '
            'mapping from valence–arousal to a category that the comparison study scores.</p>')


# ---------------------------------------------------------------------------- HTML


def _e(s) -> str:
    return html.escape(str(s), quote=True)


def _url(path: str) -> str:
    return "/".join(quote(part) for part in path.split("/"))


def _page(title: str, body: str, depth: int, description: str = "") -> str:
    up = "../" * depth
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="emosynth {_e(__version__)}">
<title>{_e(title)}</title>{f'<meta name="description" content="{_e(description)}">' if description else ''}
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{up}gallery.css">
</head><body>
<a class="skip" href="#main">Skip to content</a>
{body}
<script src="{up}gallery.js" defer></script>
</body></html>
"""


def _judge_values(row: dict, judges: list[str]) -> list[list]:
    """[[judge, valence or None, arousal or None], ...] for the held-out judges with a value here."""
    out = []
    for j in judges:
        v, a = _num(row.get(f"{j}_valence")), _num(row.get(f"{j}_arousal"))
        if v is not None or a is not None:
            out.append([j, None if v is None else round(v, 4), None if a is None else round(a, 4)])
    return out


def _data_attrs(row: dict, labels: list[str], judges: list[str] = ()) -> str:
    """What hover/focus shows, carried by the point itself (the page needs no data file): the target,
    the objective's prediction, each held-out judge's V/A (``data-judges``, JSON) and the categories."""
    attrs = {"data-target": _target_text(row)}
    for d in _VAD:
        v = _num(row.get(d))
        if v is not None:
            attrs[f"data-{d}"] = f"{v:.4f}"
    held = _judge_values(row, list(judges))
    if held:
        attrs["data-judges"] = json.dumps(held, separators=(",", ":"))
    ps = [_num(row.get("p_" + lab)) for lab in labels]
    if labels and all(p is not None for p in ps):
        attrs["data-p"] = ",".join(f"{p:.4f}" for p in ps)
    return " ".join(f'{k}="{_e(v)}"' for k, v in attrs.items())


def _thumb_img(rv: _RunView, it: _Item, depth_prefix: str = "") -> str:
    w, h = it.thumb_size
    return (f'<img src="{depth_prefix}thumbs/{_url(it.page)}.jpg" width="{w}" height="{h}" loading="lazy" '
            f'decoding="async" alt="{_e(_alt(it.row, rv.labels))}">')


def _atlas_grid(count: int) -> tuple[int, int]:
    """(columns, rows) of an atlas holding ``count`` tiles."""
    cols = min(ATLAS_COLUMNS, max(count, 1))
    return cols, math.ceil(count / cols)


def _atlases(rv: _RunView) -> str:
    return ",".join(f"atlas/{k}.jpg" for k in range(math.ceil(len(rv.items) / ATLAS_COLUMNS ** 2)))


def _plane_body(rv: _RunView) -> str:
    space = rv.meta.get("space") if isinstance(rv.meta.get("space"), dict) else {}
    cells = (space.get("dims") or [0])[0] if space else 0
    n = len(rv.items)
    # a thumbnail about one cell wide, or (without a grid) an even share of the plane
    size = 70.0 / cells if cells else 100.0 / math.sqrt(max(n, 1))
    size = min(max(size, 2.0), 10.0)
    points, off = [], []
    for i, it in enumerate(rv.items):
        v, a = _num(it.row.get("valence")), _num(it.row.get("arousal"))
        link = f'href="item/{_url(it.page)}.html" class="pt" data-i="{i}" {_data_attrs(it.row, rv.labels, rv.judges)}'
        if v is None or a is None:
            off.append(f'<li><a {link}>{_thumb_img(rv, it)}</a></li>')
            continue
        x = (min(max(v, SAM_MIN), SAM_MAX) - SAM_MIN) / (SAM_MAX - SAM_MIN) * 100
        y = (SAM_MAX - min(max(a, SAM_MIN), SAM_MAX)) / (SAM_MAX - SAM_MIN) * 100
        k, c, r = it.tile
        points.append(f'<a {link} data-tile="{k},{c},{r}" aria-label="{_e(_alt(it.row, rv.labels))}" '
                      f'style="left:{x:.3f}%;top:{y:.3f}%"></a>')
    ticks_x = "".join(f'<span style="left:{(k - 1) / 8 * 100:.1f}%">{k}</span>' for k in range(1, 10))
    ticks_y = "".join(f'<span style="top:{(9 - k) / 8 * 100:.1f}%">{k}</span>' for k in range(1, 10))
    vad = "dominance is in each image's details" if _space_name(rv.meta) == "vad" else ""
    plane = f"""
<div class="controls">
 <label>Thumbnail size <input type="range" id="size" min="1.5" max="16" step="0.5" value="{size:.1f}"></label>
 <label><input type="checkbox" id="regions" checked> category regions</label>
 <a href="#after-plane">Skip the plane</a>
</div>
<p class="hint">Hover or focus an image for its target and prediction; arrow keys move between images,
Enter opens one. {_e(vad)}</p>
<div class="plane-wrap">
 <div class="axis-y" aria-hidden="true"><span class="lo">calm</span><span class="name">arousal</span><span class="hi">excited</span></div>
 <div class="ticks-y" aria-hidden="true">{ticks_y}</div>
 <figure class="plane" id="plane" style="--s:{size:.2f}" data-labels="{_e(','.join(rv.labels))}"
   data-atlases="{_atlases(rv)}" data-tile-px="{ATLAS_TILE}"
   role="group" aria-label="{n} images on the valence-arousal plane: valence from unpleasant (left) to pleasant (right), arousal from calm (bottom) to excited (top)">
  {_plane_svg()}
  <canvas class="tiles" aria-hidden="true"></canvas>
  <noscript><style>.plane .pt{{background:#444;border-radius:50%;width:8px}}</style></noscript>
  {''.join(points)}
 </figure>
 <div class="ticks-x" aria-hidden="true">{ticks_x}</div>
 <div class="axis-x" aria-hidden="true"><span class="lo">unpleasant</span><span class="name">valence</span><span class="hi">pleasant</span></div>
</div>
<div id="after-plane">{_region_legend()}</div>"""
    if off:
        plane += (f'<h2>Not on the plane</h2><p>{len(off)} image(s) without a predicted valence and arousal.</p>'
                  f'<ul class="strip">{"".join(off)}</ul>')
    return plane


def _descriptors(rv: _RunView) -> list[str]:
    """items.csv's numeric measure_* columns other than the category: what panels can be sorted by."""
    out = []
    for c in rv.run.items.columns:
        if c.startswith("measure_") and c != "measure_category":
            if pd.to_numeric(rv.run.items[c], errors="coerce").notna().all() and rv.run.items[c].notna().all():
                out.append(c)
    return out


def _confidence(row: dict) -> float | None:
    t = row.get("target_category")
    p = _num(row.get(f"p_{t}")) if t else None
    return p if p is not None else _num(row.get("fitness"))


def _panels_body(rv: _RunView) -> str:
    descs = _descriptors(rv)
    groups: dict[str, list[int]] = {lab: [] for lab in rv.labels}
    for i, it in enumerate(rv.items):
        t = it.row.get("target_category") or it.row.get("category") or "no target"
        groups.setdefault(str(t), []).append(i)
    options = ['<option value="confidence">confidence (p of the target emotion), high first</option>']
    options += [f'<option value="{_e(d)}">{_e(d[8:].replace("_", " "))}, low first</option>' for d in descs]
    panels = []
    for k, (label, idx) in enumerate(groups.items()):
        idx = sorted(idx, key=lambda i: -(_confidence(rv.items[i].row) or -np.inf))
        cards = []
        for i in idx:
            it = rv.items[i]
            conf = _confidence(it.row)
            sort = " ".join(f'data-s-{_e(d)}="{_num(it.row.get(d)):.6g}"' for d in descs)
            capt = [f"p {conf:.2f}" if conf is not None else ""]
            capt += [f"{d[8:].replace('_', ' ')} {_f(it.row.get(d))}" for d in descs[:1]]
            cards.append(f'<li data-s-confidence="{conf if conf is not None else -1:.6g}" {sort}>'
                         f'<a href="item/{_url(it.page)}.html" class="pt" data-i="{i}" '
                         f'{_data_attrs(it.row, rv.labels, rv.judges)}>{_thumb_img(rv, it)}</a>'
                         f'<span class="cap">{_e(" · ".join(c for c in capt if c))}</span></li>')
        body = f'<ul class="strip">{"".join(cards)}</ul>' if cards else '<p class="empty">no elite</p>'
        panels.append(f'<section class="panel" id="panel-{_e(_slug(label))}" '
                      f'style="--c:{_colour(label, k)}"><h2>{_e(label)} <small>{len(idx)} image'
                      f'{"s" if len(idx) != 1 else ""}</small></h2>{body}</section>')
    return f"""
<div class="controls"><label>Sort by <select id="sort">{''.join(options)}</select></label></div>
<p class="hint">One panel per target emotion. Hover or focus an image for its prediction; Enter opens it.</p>
<div class="panels" id="panels" data-labels="{_e(','.join(rv.labels))}">{''.join(panels)}</div>"""


def _facts_dl(facts) -> str:
    return "<dl class=\"facts\">" + "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts) + "</dl>"


def _run_page(rv: _RunView, title: str) -> str:
    facts = _facts(rv)
    body = (_plane_body(rv) if rv.view == "plane" else _panels_body(rv)) + _pairs_body(rv)
    what = "on the valence–arousal plane" if rv.view == "plane" else "by target emotion"
    cmd = _command(rv.meta)
    return _page(f"{rv.slug} · {title}", f"""
<header><nav><a href="../index.html">{_e(title)}</a> › {_e(rv.slug)}</nav>
<h1>{_e(rv.slug)}</h1><p class="sub">{len(rv.items):,} images {what}</p></header>
<main id="main">
{body}
<h2>About this run</h2>
{_facts_dl(facts)}
{f'<p>Made by:</p><pre><code>{_e(cmd)}</code></pre>' if cmd else ''}
<p class="downloads">Download: <a href="{RUN_FILE}" download>run.json</a> ·
 <a href="{ITEMS_FILE}" download>items.csv</a></p>
</main>
<div id="tip" class="tip" role="status" aria-live="polite" hidden></div>""", 1,
                 f"{rv.slug}: {len(rv.items)} images {what}")


def _emotion_table(row: dict, labels: list[str], judges: list[str] = ()) -> str:
    rows = []
    for d in _VAD:
        v = _num(row.get(d))
        if v is not None:
            before = _num(row.get(f"before_{d}"))
            was = f" (before the edit {before:.2f})" if before is not None else ""
            rows.append(f'<tr><th scope="row">{d}</th><td data-k="{d}">{v:.2f}</td><td>{_word(d, v)}{was}</td></tr>')
    held = _judge_values(row, list(judges))
    if held:
        rows.append('<tr><th scope="rowgroup" colspan="3">held-out judges (never in the objective)</th></tr>')
        for j, v, a in held:
            rows.append(f'<tr><th scope="row">{_e(j)}</th><td data-k="judge-{_e(j)}">V {_f(v)} · A {_f(a)}</td>'
                        f'<td>{_e(_word("valence", v))}</td></tr>')
    ps = [(lab, _num(row.get("p_" + lab))) for lab in labels]
    bars = "".join(f'<tr><th scope="row">{_e(lab)}</th><td data-k="p_{_e(lab)}">{p:.2f}</td>'
                   f'<td><span class="bar" style="width:{p * 100:.1f}%"></span></td></tr>'
                   for lab, p in sorted(ps, key=lambda t: -(t[1] or 0)) if p is not None)
    out = (f'<p>Target: <strong data-k="target">{_e(_target_text(row))}</strong></p>'
           f'<table class="emotion"><caption>Predicted (V, A, D on the SAM 1–9 scale)</caption>{"".join(rows)}</table>')
    if bars:
        out += f'<table class="emotion probs"><caption>Category probabilities</caption>{bars}</table>'
    return out


def _condition(rv: _RunView, row: dict) -> str:
    """The genome / condition: whatever the run stores for this image beyond the emotion columns."""
    skip = {"file", "category", "valence", "arousal", "dominance"}
    rows = [(k, v) for k, v in row.items()
            if k not in skip and not k.startswith(("p_", "target_")) and v is not None]
    out = "".join(f'<tr><th scope="row">{_e(k)}</th><td>{_e(_f(v, 4) if isinstance(v, float) else v)}</td></tr>'
                  for k, v in rows)
    meta = rv.meta
    for key in ("encoding", "generator", "condition"):
        if isinstance(meta.get(key), dict):
            out += (f'<tr><th scope="row">run {key}</th><td><code>'
                    f'{_e(json.dumps(meta[key], sort_keys=True))}</code></td></tr>')
    return f'<table class="condition">{out}</table>' if out else "<p>Nothing recorded beyond the emotion.</p>"


def _item_page(rv: _RunView, i: int, title: str) -> str:
    it = rv.items[i]
    row = it.row
    cmd = _command(rv.meta)
    prev = rv.items[i - 1].page if i > 0 else None
    nxt = rv.items[i + 1].page if i + 1 < len(rv.items) else None
    nav = " ".join(filter(None, [
        f'<a rel="prev" href="{_url(prev)}.html">← previous</a>' if prev else "",
        f'<a rel="next" href="{_url(nxt)}.html">next →</a>' if nxt else ""]))
    w, h = it.size
    seed = rv.meta.get("seed", (rv.meta.get("config") or {}).get("seed"))
    if cmd:
        regen = (f'<p>This image is <code>{_e(it.file)}</code> in the run made by this command'
                 f'{f" (seed {_e(seed)}: the same seed gives the same images)" if seed is not None else ""}:</p>'
                 f'<pre><code class="command">{_e(cmd)}</code></pre>')
    else:
        cfg = rv.meta.get("config")
        regen = ("<p>The run's run.json records no command (it was made from Python).</p>"
                 + (f'<p>Its configuration:</p><pre><code>{_e(json.dumps(cfg, indent=1))}</code></pre>'
                    if isinstance(cfg, dict) else ""))
    src = f"../{IMAGES_DIR}/{_url(it.file)}"
    return _page(f"{it.page} · {rv.slug}", f"""
<header><nav><a href="../../index.html">{_e(title)}</a> › <a href="../index.html">{_e(rv.slug)}</a> ›
 {_e(it.page)}</nav><h1>{_e(it.page)}</h1><p class="pager">{nav}</p></header>
<main id="main" class="detail">
{_before_figure(it)}<figure class="full"><img src="{src}" width="{w}" height="{h}" alt="{_e(_alt(row, rv.labels))}">
<figcaption>{"after: " if it.before else ""}{w} × {h} px · <a href="{src}" download>download image</a></figcaption>
</figure>
<div class="info">
<h2>Emotion</h2>
{_emotion_table(row, rv.labels, rv.judges)}
<h2>Genome / condition</h2>
{_condition(rv, row)}
<h2>Regenerate</h2>
{regen}
<p class="downloads">Download: <a href="{src}" download>{_e(Path(it.file).name)}</a> ·
 <a href="../{RUN_FILE}" download>run.json</a> · <a href="../{ITEMS_FILE}" download>items.csv</a></p>
</div>
</main>""", 2, _alt(row, rv.labels))


def _index_page(views: list[_RunView], title: str) -> str:
    cards = []
    for rv in views:
        pick = rv.items
        if len(pick) > 6:  # the best few, spread over the run
            order = sorted(range(len(pick)), key=lambda i: -(_num(pick[i].row.get("fitness")) or -np.inf))
            pick = [pick[i] for i in sorted(order[:6])]
        thumbs = "".join(f'<img src="{rv.slug}/thumbs/{_url(it.page)}.jpg" width="{it.thumb_size[0]}" '
                         f'height="{it.thumb_size[1]}" loading="lazy" alt="{_e(_alt(it.row, rv.labels))}">'
                         for it in pick)
        cmd = _command(rv.meta)
        view = "valence–arousal plane" if rv.view == "plane" else "panels by emotion"
        cards.append(f"""<article class="run" id="run-{_e(rv.slug)}">
<h2><a href="{_url(rv.slug)}/index.html">{_e(rv.slug)}</a> <small>{len(rv.items):,} images · {view}</small></h2>
<div class="preview">{thumbs}</div>
{_facts_dl(_facts(rv))}
{f'<details><summary>command</summary><pre><code>{_e(cmd)}</code></pre></details>' if cmd else ''}
</article>""")
    n = sum(len(rv.items) for rv in views)
    built = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    return _page(title, f"""
<header><h1>{_e(title)}</h1>
<p class="sub">{len(views)} run{'s' if len(views) != 1 else ''}, {n:,} images. Emotion as predicted by the
model each run names: valence, arousal and dominance on the SAM 1–9 scale.</p></header>
<main id="main" class="runs">
{''.join(cards)}
</main>
<footer>Built by emosynth {_e(__version__)} on {built}.</footer>""", 0, f"{title}: {len(views)} runs")


# ---------------------------------------------------------------------------- assets

def _asset(name: str) -> str:
    """A package-data file of the gallery (report/assets/): its stylesheet and script."""
    from importlib.resources import files

    return files("emosynth.report").joinpath("assets", name).read_text(encoding="utf-8")


# ---------------------------------------------------------------------------- building


def _thumbnail(src: Path, dst: Path, where: str, within: Path):
    """Write a JPEG thumbnail; returns the full size, the thumbnail's and the thumbnail. Unreadable,
    over the pixel limit or outside ``within`` (the run's images/) → ImageError."""
    from PIL import Image

    im = read_image(src, within=within, where=where, draft=(THUMB_SIZE, THUMB_SIZE))
    full = image_size(src)  # a JPEG draft decodes at a reduced size: the full size is the header's
    im.thumbnail((THUMB_SIZE, THUMB_SIZE), Image.Resampling.LANCZOS)
    im.save(dst, "JPEG", quality=82, optimize=True)
    return full, im.size, im


def _square(im, side: int):
    """The centre square of ``im`` at ``side`` px (the plane's points are square)."""
    from PIL import Image, ImageOps

    return ImageOps.fit(im, (side, side), Image.Resampling.LANCZOS)


def _write_atlases(rv: _RunView, tiles: list, folder: Path) -> None:
    from PIL import Image

    folder.mkdir()
    per = ATLAS_COLUMNS ** 2
    for k in range(0, len(tiles), per):
        chunk = tiles[k:k + per]
        cols, rows = _atlas_grid(len(chunk))
        sheet = Image.new("RGB", (cols * ATLAS_TILE, rows * ATLAS_TILE), (255, 255, 255))
        for j, tile in enumerate(chunk):
            c, r = j % cols, j // cols
            sheet.paste(tile, (c * ATLAS_TILE, r * ATLAS_TILE))
            rv.items[k + j].tile = (k // per, c, r)
        sheet.save(folder / f"{k // per}.jpg", "JPEG", quality=80, optimize=True)


def _prepare_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise GalleryError(f"{out}: exists and is not a folder; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise GalleryError(f"{out}: folder exists and is not a gallery built by emosynth; "
                           "choose another --out or empty it")


def build_gallery(run_dirs: Iterable[str | Path], out: str | Path, title: str = "emosynth gallery",
                  progress: Callable[[int], None] | None = None) -> Path:
    """Build the static site for ``run_dirs`` in ``out``; returns ``out``.

    Reads each run directory (``emosynth.rundir``), checks it, writes thumbnails, one page per run,
    one per image and an index. The site is built in a temporary sibling folder and renamed into
    place, so ``out`` is either the previous gallery or the new one, never half of either; an
    existing ``out`` is replaced only if this function built it. ``progress(k)`` is told as k more
    images are done.

    Args:
        run_dirs: Run directories.
        out: The gallery folder.
        title: The index page's title.
        progress: Called with k as k more images are done, or None.

    Returns:
        ``out`` as a ``Path``.

    Raises:
        GalleryError: No run directories, one given twice, or ``out`` exists and is not a gallery
            folder built by emosynth.
        RunDirError: A run directory is missing, incomplete or malformed.
    """
    out = Path(out)
    paths = [Path(p) for p in run_dirs]
    _prepare_out(out)
    check_output(out, GALLERY_KIND, overwrite=True)  # a gallery is a view of its runs: rebuilt freely
    views = _read(paths)
    with output_directory(out, GALLERY_KIND, overwrite=True) as tmp:
        for rv in views:
            _build_run(rv, tmp / rv.slug, title, progress)
        (tmp / "index.html").write_text(_index_page(views, title), encoding="utf-8")
        (tmp / "gallery.css").write_text(_asset("gallery.css"), encoding="utf-8")
        (tmp / "gallery.js").write_text(_asset("gallery.js"), encoding="utf-8")
        (tmp / MARKER).write_text(json.dumps({"emosynth": __version__, "title": title,
                                              "runs": [str(p) for p in paths]}) + "\n")
    return out


def _source_file(run: Run, source: str) -> Path | None:
    """The original photo a photo-edit row names (items.csv ``source``): an absolute path, or one
    relative to the run directory or the working folder; None when none of them is a file."""
    p = Path(source)
    for cand in ([p] if p.is_absolute() else [run.path / p, Path.cwd() / p]):
        if cand.is_file():
            return cand
    return None


def _copy_sources(rv: _RunView, dst: Path) -> None:
    """Photo edits are shown as before/after pairs: each distinct original (items.csv ``source``) is
    decoded by the one bounded image reader and written once as a JPEG under ``sources/`` (at most
    1,024 px: the full original is the user's, not the run's, and is not copied). A source that is
    missing or unreadable leaves the pair with its numbers only."""
    from PIL import Image

    done: dict[str, str] = {}
    taken: set[str] = set()
    for it in rv.items:
        src = it.row.get("source")
        if not isinstance(src, str) or not src.strip():
            continue
        if src not in done:
            path = _source_file(rv.run, src)
            done[src] = ""
            if path is not None:
                try:
                    im = read_image(path, where=f"source photo of {rv.run.path.name}")
                except EmosynthError:
                    im = None
                if im is not None:
                    (dst / "sources").mkdir(exist_ok=True)
                    name = _unique(_slug(Path(src).stem), taken)
                    im.thumbnail((1024, 1024), Image.Resampling.LANCZOS)
                    im.convert("RGB").save(dst / "sources" / f"{name}.jpg", "JPEG", quality=85, optimize=True)
                    done[src] = f"sources/{name}.jpg"
        it.before = done[src]


def _before_figure(it: _Item) -> str:
    """An item page's original photo beside its edit ("" for an image that is not an edit)."""
    if it.before is None:
        return ""
    if not it.before:
        return (f'<p class="note">Edited from <code>{_e(it.row.get("source"))}</code> (the original was not '
                f'found when this gallery was built).</p>')
    return (f'<figure class="full before"><img src="../{_url(it.before)}" alt="the original photo '
            f'{_e(Path(str(it.row.get("source"))).name)}, before the edit"><figcaption>before: '
            f'{_e(Path(str(it.row.get("source"))).name)}</figcaption></figure>')


def _pairs_body(rv: _RunView) -> str:
    """A photo-edit run's before/after pairs, one row per edit: the original, the edit, and the
    objective's (and each held-out judge's) V/A before and after."""
    rows = []
    for it in rv.items:
        if it.before is None:
            continue
        r = it.row
        before = (f'<img src="{_url(it.before)}" width="{it.thumb_size[0]}" height="{it.thumb_size[1]}" '
                  f'style="object-fit:cover" loading="lazy" alt="original {_e(Path(str(r.get("source"))).name)}">'
                  if it.before else f'<span class="note">original not found: {_e(r.get("source"))}</span>')
        change = []
        for d in ("valence", "arousal"):
            b, a = _num(r.get(f"before_{d}")), _num(r.get(d))
            if a is not None:
                change.append(f"{d} {_f(b)} → {_f(a)}" if b is not None else f"{d} {_f(a)}")
        for j in rv.judges:
            bits = []
            for d in ("valence", "arousal"):
                b, a = _num(r.get(f"{j}_{d}_before")), _num(r.get(f"{j}_{d}"))
                if a is not None:
                    bits.append(f"{d[0].upper()} {_f(b)} → {_f(a)}" if b is not None else f"{d[0].upper()} {_f(a)}")
            if bits:
                change.append(f"{j} (held out): {', '.join(bits)}")
        rows.append(f'<tr><td>{before}</td><td><a href="item/{_url(it.page)}.html" class="pt" data-i="0" '
                    f'{_data_attrs(r, rv.labels, rv.judges)}>{_thumb_img(rv, it)}</a></td>'
                    f'<td>{_e(_target_text(r))}</td><td>{"<br>".join(_e(c) for c in change)}</td></tr>')
    if not rows:
        return ""
    return ('<h2 id="pairs">Before and after</h2><p class="hint">Each photo edit beside its original; the '
            'values are the objective\'s prediction and each held-out judge\'s, before → after.</p>'
            '<table class="pairs"><thead><tr><th scope="col">before</th><th scope="col">after</th>'
            '<th scope="col">target</th><th scope="col">predicted</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>")


def _build_run(rv: _RunView, dst: Path, title: str, progress) -> None:
    run = rv.run
    for sub in ("thumbs", "item", IMAGES_DIR):
        (dst / sub).mkdir(parents=True)
    taken: set[str] = set()
    tiles = []
    records = run.items.to_dict("records")
    for i, rec in enumerate(records):
        row = {k: _clean(v) for k, v in rec.items()}
        file = str(row["file"])
        page = _unique(_slug(Path(file).with_suffix("").as_posix()), taken)
        src = run.path / IMAGES_DIR / file
        full, thumb, im = _thumbnail(src, dst / "thumbs" / f"{page}.jpg", f"{run.path / ITEMS_FILE} row {i + 2}",
                                     run.path / IMAGES_DIR)
        if rv.view == "plane":
            tiles.append(_square(im, ATLAS_TILE))
        target = dst / IMAGES_DIR / file
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
        rv.items.append(_Item(row, file, page, full, thumb))
        if progress:
            progress(1)
    if tiles:
        _write_atlases(rv, tiles, dst / "atlas")
    _copy_sources(rv, dst)
    for name in (RUN_FILE, ITEMS_FILE):
        shutil.copyfile(run.path / name, dst / name)
    (dst / "index.html").write_text(_run_page(rv, title), encoding="utf-8")
    for i, it in enumerate(rv.items):
        (dst / "item" / f"{it.page}.html").write_text(_item_page(rv, i, title), encoding="utf-8")


def count_images(run_dirs: Iterable[str | Path]) -> int:
    """How many images ``build_gallery`` will process (for a progress bar); 0 for unreadable runs.

    Args:
        run_dirs: Run directories.

    Returns:
        The number of images listed in their items tables.
    """
    n = 0
    for p in run_dirs:
        try:
            n += len(pd.read_csv(Path(p) / ITEMS_FILE, usecols=["file"]))
        except (OSError, ValueError):
            pass
    return n
