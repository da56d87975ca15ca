"""A factorial stimulus design: ``"valence=2,5,8 x arousal=3,7"`` or ``"category=joy,fear,sadness"``.

Each factor is an emotion dimension (``valence``, ``arousal``, ``dominance``: levels on the SAM 1–9
scale) or ``category`` (levels are category labels). Factors join with `` x `` (or ``×``); the
cells are every combination, named ``valence=2,arousal=3`` (dimension=level, in the design's order).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from ..errors import ConfigError

DIMENSIONS = ("valence", "arousal", "dominance")
SAM_MIN, SAM_MAX = 1.0, 9.0


def _fmt(level) -> str:
    return f"{level:g}" if isinstance(level, float) else str(level)


@dataclass(frozen=True)
class Cell:
    """One design cell: ``targets`` maps each factor to its level (a float on 1–9 or a label).

    Attributes:
        targets: (factor, level) pairs in the design's order; a dimension's level is a float on the SAM
            1–9 scale, a category's a label.
    """

    targets: tuple[tuple[str, object], ...]

    @property
    def name(self) -> str:
        return ",".join(f"{k}={_fmt(v)}" for k, v in self.targets)

    def get(self, factor: str):
        return dict(self.targets).get(factor)


@dataclass(frozen=True)
class Design:
    """A factorial design: its cells are every combination of the factors' levels.

    Attributes:
        factors: (factor, levels) pairs in order; a factor is ``valence``, ``arousal``, ``dominance``
            (levels: floats on the SAM 1–9 scale) or ``category`` (levels: lower-case labels).
    """

    factors: tuple[tuple[str, tuple], ...]

    @property
    def cells(self) -> list[Cell]:
        names = [f for f, _ in self.factors]
        return [Cell(tuple(zip(names, combo))) for combo in itertools.product(*(lv for _, lv in self.factors))]

    @property
    def numeric(self) -> list[str]:
        """The factors that are emotion dimensions (their levels are points on the 1–9 scale)."""
        return [f for f, _ in self.factors if f in DIMENSIONS]

    def describe(self) -> str:
        """'3 (valence: 2, 5, 8) × 2 (arousal: 3, 7)'."""
        return " × ".join(f"{len(lv)} ({f}: {', '.join(_fmt(v) for v in lv)})" for f, lv in self.factors)

    def __str__(self) -> str:
        return " x ".join(f"{f}={','.join(_fmt(v) for v in lv)}" for f, lv in self.factors)


def parse_design(text: str) -> Design:
    """Parse ``"valence=2,5,8 x arousal=3,7"``; any problem is one ``ConfigError`` naming --design.

    Args:
        text: The design: factors ``name=level,level,...`` joined by `` x `` (or ``×``, ``*``); names are
            valence, arousal, dominance (levels on the SAM 1-9 scale) or category (labels).

    Returns:
        The design.

    Raises:
        ConfigError: For an empty design, an unknown, repeated or level-less factor, a level off the SAM
            1-9 scale or repeated, or a design of one cell.
    """
    if not isinstance(text, str) or not text.strip():
        raise ConfigError("design", "is empty; write e.g. \"valence=2,5,8 x arousal=3,7\" or "
                          "\"category=joy,fear,sadness\"")
    factors = []
    for part in re.split(r"\s+[xX]\s+|\s*×\s*|\s*\*\s*", text.strip()):
        if "=" not in part:
            raise ConfigError("design", f"factor {part!r} has no '='; write dimension=level,level "
                              "(e.g. valence=2,5,8)")
        name, _, levels = part.partition("=")
        name = name.strip().lower()
        raw = [lv.strip() for lv in levels.split(",") if lv.strip()]
        if name not in (*DIMENSIONS, "category"):
            raise ConfigError("design", f"factor {name!r} is not valence, arousal, dominance or category")
        if any(name == f for f, _ in factors):
            raise ConfigError("design", f"names {name} twice")
        if len(raw) < 1:
            raise ConfigError("design", f"factor {name} has no levels")
        if name == "category":
            lv = tuple(r.lower() for r in raw)
        else:
            try:
                lv = tuple(float(r) for r in raw)
            except ValueError:
                raise ConfigError("design", f"{name} levels must be numbers on the SAM 1-9 scale, got "
                                  f"{levels.strip()!r}") from None
            bad = [v for v in lv if not (SAM_MIN <= v <= SAM_MAX)]
            if bad:
                raise ConfigError("design", f"{name} level {bad[0]:g} is off the SAM 1-9 scale")
        if len(set(lv)) != len(lv):
            raise ConfigError("design", f"factor {name} repeats a level")
        factors.append((name, lv))
    design = Design(tuple(factors))
    if len(design.cells) < 2:
        raise ConfigError("design", "has one cell; a stimulus set needs at least two conditions to balance")
    return design
