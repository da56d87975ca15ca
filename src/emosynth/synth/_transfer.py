"""Held-out judges: an evolve run's elites under judges that were not in its objective.

Only a judge the search never optimised says anything about transfer. By default a run is checked
by ``emosynth.judges.HELD_OUT`` — a network on another backbone trained apart (Lite2) and a colour
model from another study than the one optimised (Ou et al. 2004) — and reports, per judge, the
Pearson r between each elite's cell target and that judge's V / A (/ D), the mean absolute error
(SAM 1–9 points) and the number of elites, in run.json ``transfer``; each judge's V/A per image goes
into items.csv as ``<judge>_valence`` / ``<judge>_arousal``. Over categories: the share of elites a
held-out network's top category agrees with (a colour judge has no categories: noted, not scored).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..config import ConfigError
from ..errors import EmosynthError
from ._fitness import judge_outputs

#: ``check_judges`` value for the default held-out judges, and for none
HELD_OUT_SPEC = "held-out"
NO_CHECK = "none"


def judge_names(judges) -> set[str]:
    """The names of ``judges`` and of every judge inside them (an ensemble's members), lower case."""
    from ..judges import Judge

    return {m.name.strip().lower() for j in judges for m in j.modules() if isinstance(m, Judge)}


def check_spec_names(spec: str | None, check_backbone: str | None) -> list[str]:
    """The held-out judges' names for ``check_judges`` (``None`` or 'held-out': ``judges.HELD_OUT``;
    'none': no check; else a comma list); ``check_backbone`` (the earlier flag) stands for the list
    when no list is given."""
    from ..judges import HELD_OUT

    if spec is None or spec.strip().lower() == HELD_OUT_SPEC:
        return [check_backbone] if check_backbone else list(HELD_OUT)
    if spec.strip().lower() == NO_CHECK:
        return []
    names = [s.strip() for s in spec.split(",")]
    if any(not n for n in names):
        raise ConfigError("check_judges", f"{spec!r}: an empty name in the list")
    return names


def make_check_judges(names: list[str], objective_names: set[str], required: bool):
    """Build the held-out judges; one that is also in the objective is refused (``ConfigError``). When
    not ``required`` (the default list), a judge that cannot be built is left out with a note."""
    from ..judges import make_judge

    judges, notes = [], {}
    for name in names:
        try:
            j = make_judge(name)
        except EmosynthError as err:
            if required:
                raise
            notes[name] = {"note": f"not checked: {str(err).splitlines()[0]}"}
            continue
        both = judge_names([j]) & objective_names
        if both or str(name).strip().lower() in objective_names:
            raise ConfigError("check_judges", f"names {sorted(both or {name})[0]!r}, which is in the objective "
                              "({judges}) too: a held-out judge must be one the search never optimised")
        judges.append(j)
    return judges, notes


def column_prefix(judge) -> str:
    """items.csv column prefix of a held-out judge: its name (a model folder: the folder's name)."""
    name = str(judge.name)
    return Path(name).name if ("/" in name or "\\" in name) else name


def judge_size(judge) -> int:
    sizes = [int(m.input_size) for m in judge.modules() if isinstance(getattr(m, "input_size", None), int)]
    return max(sizes, default=224)


def verdicts(judges, enc, solutions: np.ndarray, chunk: int = 16) -> list[dict[str, np.ndarray]]:
    """Each judge's verdict on the elites, rendered at that judge's input size (a colour judge at
    224 px): ``vad`` (n, 3) on 1–9 (NaN: not judged) and ``probabilities`` (n, K) where it has them."""
    res = []
    for j in judges:
        size = judge_size(j)
        vad, probs = [], []
        with torch.no_grad():
            for start in range(0, len(solutions), chunk):
                (out,) = judge_outputs([j], enc.render(solutions[start:start + chunk], size), fast=True)
                vad.append(out["vad"].double().numpy())
                if j.labels:
                    probs.append(out["probabilities"].double().numpy())
        r = {"vad": np.concatenate(vad) if vad else np.zeros((0, 3))}
        if j.labels:
            r["probabilities"] = np.concatenate(probs) if probs else np.zeros((0, len(j.labels)))
        res.append(r)
    return res


def _r(a, b):
    from scipy.stats import pearsonr

    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    return float(pearsonr(a, b)[0]) if len(a) > 2 and np.ptp(a) > 0 and np.ptp(b) > 0 else None


def summary(judge, verdict, space, grid, own_vad, labels) -> dict:
    """run.json ``transfer`` entry of one held-out judge (see the module docstring)."""
    from ..judges import Judge

    n = int(len(verdict["vad"]))
    folders = [getattr(m, "folder", None) for m in judge.modules() if isinstance(m, Judge)]
    out: dict = {"judge": judge.name, "n": n, "dims": list(judge.dims)}
    if folders and folders[0] is not None:
        from ..models.registry import model_id

        out["model"] = model_id(folders[0])
    if space.name == "category":
        if not judge.labels:
            out["note"] = "no categories: a colour judge judges V/A/D only"
            return out
        probs = verdict["probabilities"]
        target = [judge.labels.index(labels[int(g)]) if labels[int(g)] in judge.labels else -1 for g in grid[:, 0]]
        target = np.array(target, dtype=int)
        agree = probs.argmax(1) == target if n else np.zeros(0, bool)
        out.update({"agreement": float(agree.mean()) if n else None, "chance": 1 / len(labels),
                    "mean_p_target": float(np.where(target >= 0, probs[np.arange(n), target.clip(0)], 0).mean())
                    if n else None})
        return out
    targets = space.centres(grid)
    for j, d in enumerate(space.measure_names):
        if d not in judge.dims:
            continue
        judged = verdict["vad"][:, j]
        out[f"r_{d}"] = _r(targets[:, j], judged)
        out[f"mae_{d}"] = float(np.nanmean(np.abs(judged - targets[:, j]))) if n else None
        # the objective's own view, for comparison (near 1 by construction)
        out[f"r_{d}_objective"] = _r(targets[:, j], own_vad[:, j])
    return out


def item_columns(judge, vad_row) -> dict:
    """items.csv columns of one held-out judge for one image: ``<judge>_valence``, ``<judge>_arousal``
    (1–9; None where the judge does not judge that dimension)."""
    from ..rundir import judge_columns

    return judge_columns(column_prefix(judge), vad_row, judge.dims)


def legacy_view(entry: dict) -> dict:
    """The flat keys ``--check-backbone`` wrote before judges were per-judge (``check_model``, ``elites``,
    ``r_<dim>``, ``r_<dim>_judge``, ``agreement``...), for readers of those runs."""
    flat = {"check_model": entry.get("model", entry["judge"]), "elites": entry["n"]}
    for k, v in entry.items():
        if k.startswith("r_") and k.endswith("_objective"):
            flat[k[: -len("_objective")] + "_judge"] = v
        elif k.startswith(("r_", "agreement", "chance", "mean_p_target")):
            flat[k] = v
    return flat

