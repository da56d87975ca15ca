"""Judges: anything that maps an image tensor to V/A(/D) on the SAM 1–9 scale, differentiably.

The packaged predictor and other networks (``NetworkJudge``), an ensemble of them under random
transforms (``EnsembleJudge``), and colour-emotion models from published human studies
(``ValdezMehrabianJudge``, ``PalmerColourJudge``, the held-out ``OuColourJudge``). ``Consensus`` turns several
judges into one objective that rewards an image only for what they all agree on. ``parse_judges("consensus")``,
``parse_judges("default")`` or ``parse_judges("a,b")`` builds them by name; ``available_judges()``
lists the names and what each judge is.
"""

from ._base import (
    ALIASES,
    HELD_OUT,
    PRESETS,
    DimensionsJudge,
    Judge,
    JudgeError,
    available_judges,
    describe_judges,
    make_judge,
    parse_judges,
)
from ._colour import (
    OuColourJudge,
    PalmerColourJudge,
    ValdezMehrabianJudge,
    colour_starts,
    flat_fields,
    palmer_data,
    palmer_leave_one_out,
    srgb_to_lab,
)
from ._consensus import METHODS, Consensus, combine, judge_objective, target_tensor
from ._network import EnsembleJudge, NetworkJudge

__all__ = [
    "ALIASES",
    "HELD_OUT",
    "METHODS",
    "PRESETS",
    "Consensus",
    "DimensionsJudge",
    "EnsembleJudge",
    "Judge",
    "JudgeError",
    "NetworkJudge",
    "OuColourJudge",
    "PalmerColourJudge",
    "ValdezMehrabianJudge",
    "available_judges",
    "colour_starts",
    "combine",
    "describe_judges",
    "flat_fields",
    "judge_objective",
    "make_judge",
    "palmer_data",
    "palmer_leave_one_out",
    "parse_judges",
    "srgb_to_lab",
    "target_tensor",
]
