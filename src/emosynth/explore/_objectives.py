"""What activation maximisation optimises: one objective per image, parsed from a short string.

``joy`` (or ``category=joy``)   the category's log-probability (log-softmax: raising one label's
                                 logit alone could raise all of them)
``valence`` / ``valence+``       the predicted valence, upwards (``valence-``: downwards); also
                                 arousal, dominance
``valence=8,arousal=2``          a target point on the SAM 1–9 scale: minus the squared error
``channel=123``                  one channel of the backbone's features (an internal unit the heads read)

Every objective is a score to *maximise*; ``loss = -score``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from ..emotions import DIMENSIONS, SAM_MAX, SAM_MIN
from ..errors import EmosynthError


class ObjectiveError(EmosynthError):
    """An objective string that names nothing the model has."""


@dataclass(frozen=True)
class Objective:
    """One activation-maximisation objective, a score to maximise (as ``parse_objective`` makes it).

    Attributes:
        kind: 'category', 'dimension', 'point' or 'channel'.
        name: A readable name, also the image's file stem.
        index: Category index, dimension index or channel (-1: none, for a point).
        sign: +1 to raise a dimension, -1 to lower it.
        point: ((dimension index, value on the SAM 1–9 scale), ...) for kind 'point'.
    """

    kind: str  # "category" | "dimension" | "point" | "channel"
    name: str  # a readable name, also the image's file stem
    index: int = -1  # category index, dimension index or channel
    sign: float = 1.0
    point: tuple = ()  # ((dimension index, value), ...) for kind "point"

    def score(self, out: dict, features: torch.Tensor) -> torch.Tensor:
        """Per-image score (N,) from the model's outputs and features."""
        if self.kind == "category":
            return torch.log_softmax(out["logits"], dim=-1)[:, self.index]
        if self.kind == "dimension":
            return self.sign * out["vad_raw"][:, self.index]
        if self.kind == "point":
            idx = torch.tensor([j for j, _ in self.point])
            target = torch.tensor([v for _, v in self.point], dtype=out["vad"].dtype)
            return -((out["vad"][:, idx] - target) ** 2).mean(dim=1)
        return features[:, self.index]

    def target_columns(self) -> dict:
        """The run directory's target columns for this objective (items.csv)."""
        if self.kind == "category":
            return {"target_category": self.name}
        if self.kind == "dimension":
            return {f"target_{DIMENSIONS[self.index]}": SAM_MAX if self.sign > 0 else SAM_MIN}
        if self.kind == "point":
            return {f"target_{DIMENSIONS[j]}": v for j, v in self.point}
        return {}


def parse_objective(text: str, categories: list[str] | None, n_features: int, targets: list[str]) -> Objective:
    """Parse one objective string against a model's categories, trained targets and feature width.

    Args:
        text: The objective, e.g. 'joy', 'category=joy', 'valence+', 'arousal-', 'valence=8,arousal=2'
            (SAM 1–9 scale) or 'channel=123' (see the module docstring).
        categories: The model's category labels (None: no category head).
        n_features: Channels of the backbone's features.
        targets: The dimensions the model was trained on.

    Returns:
        The objective.

    Raises:
        ObjectiveError: A string that names nothing the model has: an unknown category, a dimension the
            model was not trained on, a channel out of range, or a point value off the SAM 1–9 scale.
    """
    t = text.strip().lower().replace(" ", "")
    cats = [c.lower() for c in categories or []]
    m = re.fullmatch(r"(?:category=)?([a-z_]+)", t)
    if m and m.group(1) in cats:
        return Objective("category", m.group(1), cats.index(m.group(1)))
    if t.startswith("category="):
        raise ObjectiveError(f"objective {text!r}: the model's categories are {', '.join(cats) or 'none'}")
    m = re.fullmatch(r"(valence|arousal|dominance)([+-]?)", t)
    if m:
        _need(m.group(1), targets, text)
        sign = -1.0 if m.group(2) == "-" else 1.0
        return Objective("dimension", m.group(1) + ("-low" if sign < 0 else "-high"), DIMENSIONS.index(m.group(1)),
                         sign)
    m = re.fullmatch(r"channel=(\d+)", t)
    if m:
        j = int(m.group(1))
        if not 0 <= j < n_features:
            raise ObjectiveError(f"objective {text!r}: the backbone has channels 0-{n_features - 1}")
        return Objective("channel", f"channel-{j}", j)
    if "=" in t:
        point = []
        for part in t.split(","):
            key, _, value = part.partition("=")
            if key not in DIMENSIONS:
                raise ObjectiveError(f"objective {text!r}: {key!r} is not valence, arousal or dominance")
            try:
                v = float(value)
            except ValueError:
                raise ObjectiveError(f"objective {text!r}: {value!r} is not a number") from None
            if not SAM_MIN <= v <= SAM_MAX:
                raise ObjectiveError(f"objective {text!r}: {key} {v:g} is off the SAM scale {SAM_MIN:g}-{SAM_MAX:g}")
            _need(key, targets, text)
            point.append((DIMENSIONS.index(key), v))
        name = "_".join(f"{DIMENSIONS[j][0]}{v:g}" for j, v in point)
        return Objective("point", name, point=tuple(point))
    raise ObjectiveError(f"objective {text!r}: write a category ({', '.join(cats) or 'none in this model'}), "
                         "valence/arousal/dominance with an optional + or -, a point like 'valence=8,arousal=2', "
                         "or channel=N")


def _need(dim: str, targets: list[str], text: str):
    if dim not in targets:
        raise ObjectiveError(f"objective {text!r}: this model was not trained on {dim}")


def default_objectives(categories: list[str] | None, targets: list[str]) -> list[str]:
    """One objective string per output of a model: each category, and each trained dimension up and down.

    Args:
        categories: The model's category labels (None: none).
        targets: The dimensions the model was trained on.

    Returns:
        Objective strings, e.g. ['joy', ..., 'valence+', 'valence-'].
    """
    out = list(categories or [])
    for dim in DIMENSIONS:
        if dim in targets:
            out += [f"{dim}+", f"{dim}-"]
    return out
