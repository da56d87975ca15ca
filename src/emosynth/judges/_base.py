"""The judge interface: anything that maps an image tensor to V/A(/D) on the SAM 1–9 scale.

A judge is a ``torch.nn.Module`` (so it is torch-callable, moves with ``.to`` and ``.double``)
whose ``forward(images)`` takes float images (N, 3, H, W) in [0, 1] of any size and returns a dict:

``"vad_raw"``  (N, 3) valence, arousal, dominance on the SAM 1–9 scale, *unclamped* (objectives
               use it: a clamp would stop the gradient at the ends of the scale);
``"vad"``      (N, 3) the same clamped to 1–9;
``"probabilities"`` (N, K) category probabilities, only for judges that have categories
               (their ``labels`` name the K columns; ``labels == []`` otherwise).

A column of a dimension the judge does not judge is NaN in both, and the judge's ``dims`` lists the
dimensions it does judge (e.g. ``("valence", "arousal")``). Every output is differentiable with
respect to the images. ``made_from`` says in one paragraph what the judge was made from: the data or
study, its citation, units and how it was put on the 1–9 scale.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ..emotions import DIMENSIONS, SAM_MAX, SAM_MIN
from ..errors import EmosynthError


class JudgeError(EmosynthError):
    """An unknown judge name, an empty judge list, or images a judge cannot read."""


class Judge(nn.Module):
    """Base class of every judge (see the module docstring for the output contract).

    Subclasses set ``name``, ``dims``, ``made_from`` (and ``labels`` where they have categories)
    and implement ``judge(images) -> dict`` returning at least ``"vad_raw"`` (N, 3) with NaN in the
    columns of dimensions they do not judge; ``forward`` checks the input and adds ``"vad"``.
    """

    name: str = "judge"
    dims: tuple[str, ...] = DIMENSIONS
    made_from: str = ""
    labels: list[str]
    #: short description for ``available_judges()`` / ``emosynth judges``
    description: ClassVar[str] = ""

    def __init__(self):
        super().__init__()
        self.labels = []

    @property
    def dim_mask(self) -> torch.Tensor:
        """(3,) bool: which of valence, arousal, dominance this judge judges."""
        return torch.tensor([d in self.dims for d in DIMENSIONS])

    def judge(self, images: torch.Tensor) -> dict[str, torch.Tensor]:  # pragma: no cover - abstract
        """The judge's verdict; subclasses implement it.

        Args:
            images: Float tensor (N, 3, H, W) in [0, 1].

        Returns:
            At least ``"vad_raw"`` (N, 3), unclamped SAM 1–9, NaN in the columns not judged.
        """
        raise NotImplementedError

    #: True when a judge's verdict on an image does not depend on the other images in its batch (every
    #: judge here: an ensemble draws one set of views per call and applies it to every image)
    batch_invariant: ClassVar[bool] = True

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Check the images, judge them and add ``"vad"``: ``"vad_raw"`` clamped to SAM 1–9.

        Args:
            images: Float tensor (N, 3, H, W) in [0, 1].

        Returns:
            The output of ``judge`` plus ``"vad"`` (N, 3); differentiable w.r.t. ``images``.

        Raises:
            JudgeError: ``images`` is not a float tensor (N, 3, H, W).
        """
        check_images(images)
        out = dict(self.judge(images))
        raw = out["vad_raw"]
        out["vad"] = raw.clamp(SAM_MIN, SAM_MAX)  # NaN stays NaN
        return out

    def score(self, images: torch.Tensor, engine: str = "auto") -> dict[str, torch.Tensor]:
        """The same verdict as calling the judge, without gradients: the fast path of a search that
        needs no gradients (CMA-ME's evaluations, re-checking an archive). Network judges run their
        backbones on ``engine`` (``"auto"``: ONNX Runtime where installed, batched; ``"torch"``: the
        judge's own module); the result agrees with ``judge(images)`` to float precision.

        Args:
            images: Float tensor (N, 3, H, W) in [0, 1].
            engine: The inference engine for network judges.

        Returns:
            As calling the judge: ``"vad_raw"`` and ``"vad"`` (N, 3) on SAM 1–9, and more.

        Raises:
            JudgeError: ``images`` is not a float tensor (N, 3, H, W).
        """
        check_images(images)
        with torch.no_grad():
            out = dict(self.judge_fast(images, engine))
        out["vad"] = out["vad_raw"].clamp(SAM_MIN, SAM_MAX)
        return out

    def judge_fast(self, images: torch.Tensor, engine: str = "auto") -> dict[str, torch.Tensor]:
        """``judge`` without gradients; subclasses with a faster engine override it.

        Args:
            images: Float tensor (N, 3, H, W) in [0, 1].
            engine: The inference engine; unused here.

        Returns:
            As ``judge``.
        """
        return self.judge(images)

    def extra_repr(self) -> str:
        """The judge's name and dimensions, for ``repr``.

        Returns:
            ``"name='...', dims=(...)"``.
        """
        return f"name={self.name!r}, dims={self.dims}"


def check_images(images) -> None:
    """Raise ``JudgeError`` unless ``images`` is a float tensor (N, 3, H, W) with N, H, W ≥ 1."""
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        raise JudgeError("a judge takes a float tensor of images (N, 3, H, W) in [0, 1]")
    if images.ndim != 4 or images.shape[1] != 3 or min(images.shape) < 1:
        raise JudgeError(f"a judge takes images shaped (N, 3, H, W), got {tuple(images.shape)}")


def nan_columns(values: dict[str, torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    """(N, 3) from per-dimension (N,) tensors; a dimension missing from ``values`` is NaN."""
    nan = torch.full_like(like, float("nan"))
    return torch.stack([values.get(d, nan) for d in DIMENSIONS], dim=1)


class DimensionsJudge(Judge):
    """A judge restricted to some of its dimensions: ``make_judge("valdez-mehrabian:arousal")``.

    The verdict on the other dimensions is NaN, so an objective or consensus never reads them: a
    study's arousal formula can join a consensus whose valence comes from another study.

    Args:
        inner: The judge to restrict.
        dims: The dimensions kept, a non-empty subset of ``inner.dims``.

    Raises:
        JudgeError: ``dims`` is empty or names a dimension ``inner`` does not judge.
    """

    def __init__(self, inner: Judge, dims):
        super().__init__()
        dims = tuple(dict.fromkeys(dims))
        bad = [d for d in dims if d not in inner.dims]
        if not dims or bad:
            raise JudgeError(f"judge {inner.name!r} judges {', '.join(inner.dims)}; "
                             f"cannot keep {', '.join(bad) or 'no dimension'}")
        self.inner = inner
        self.dims = tuple(d for d in DIMENSIONS if d in dims)
        self.name = f"{inner.name}:{'+'.join(self.dims)}"
        self.labels = list(inner.labels)
        self.made_from = (f"{inner.made_from} Restricted to {', '.join(self.dims)}: the other dimensions "
                          "are not judged.")

    def _mask(self, out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = dict(out)
        raw = out["vad_raw"]
        keep = self.dim_mask.to(raw.device)
        out["vad_raw"] = torch.where(keep, raw, torch.full_like(raw, float("nan")))
        return out

    def judge(self, images):
        """The inner judge's verdict, NaN outside the kept dimensions.

        Args:
            images: Float tensor (N, 3, H, W) in [0, 1].

        Returns:
            As the inner judge, ``"vad_raw"`` NaN in the columns not kept.
        """
        return self._mask(self.inner.judge(images))

    def judge_fast(self, images, engine: str = "auto"):
        """As ``judge`` without gradients, on the inner judge's fast path.

        Args:
            images: Float tensor (N, 3, H, W) in [0, 1].
            engine: The inference engine for a network judge.

        Returns:
            As ``judge``.
        """
        return self._mask(self.inner.judge_fast(images, engine))


# ------------------------------------------------------------------------------------ registry

def _default(**kw):
    from ._network import NetworkJudge

    return NetworkJudge("default", name="default", **kw)


def _ensemble(transforms: int = 4, seed: int = 0, models=("default",), **kw):
    from ._network import EnsembleJudge, NetworkJudge

    # the views are randomly mirrored already: one view per member (flip=False) halves the cost
    members = [NetworkJudge(m, flip=False, name=str(m)) for m in models]
    return EnsembleJudge(members, transforms=transforms, seed=seed, **kw)


def _lite2(**kw):
    from ._network import NetworkJudge

    return NetworkJudge("lite2", name="lite2", **kw)


def _vm(**kw):
    from ._colour import ValdezMehrabianJudge

    return ValdezMehrabianJudge(**kw)


def _palmer(**kw):
    from ._colour import PalmerColourJudge

    return PalmerColourJudge(**kw)


def _ou(**kw):
    from ._colour import OuColourJudge

    return OuColourJudge(**kw)


#: name → (factory, one-line description)
JUDGES = {
    "default": (_default, "network: the packaged predictor (EfficientNet-Lite0 + MobileNetV2 features, "
                          "mirror-averaged), V/A on 1-9 and 7 categories"),
    "ensemble": (_ensemble, "network: the packaged predictor under 4 random transforms (jitter, scale, "
                            "rotation, colour, mirror; fixed seed), averaged: today's --robust"),
    "lite2": (_lite2, "network (held out): a predictor on EfficientNet-Lite2 trained apart on OASIS + "
                      "Emotion6 (trained and cached on first use: minutes)"),
    "valdez-mehrabian": (_vm, "colour: Valdez & Mehrabian (1994) pleasure/arousal/dominance from "
                              "brightness (L*) and saturation (C*), per pixel, on 1-9"),
    "palmer-2013": (_palmer, "colour: Palmer et al. (2013) happy-sad associations of 37 colours, regressed "
                             "on CIELAB lightness, chroma and hue, per pixel -> valence on 1-9"),
    "ou": (_ou, "colour (held out): Ou et al. (2004) colour activity -> arousal, colour preference "
                "(distance from a disliked olive) -> valence, on 1-9"),
}
ALIASES = {"palmer": "palmer-2013", "vm": "valdez-mehrabian", "colour": "valdez-mehrabian", "color": "valdez-mehrabian",
           "packaged": "default", "robust": "ensemble"}
#: preset → judge names
PRESETS = {"consensus": ("ensemble", "valdez-mehrabian"), "consensus-palmer": ("ensemble", "palmer-2013"),
           "default": ("default",)}
#: judges a run reports its targets against and never optimises by default: another backbone and
#: a colour model from a different study
HELD_OUT = ("lite2", "ou")


def available_judges() -> list[tuple[str, str]]:
    """List the named judges; any saved model folder or backbone name (``lite1``, ``mnv2``, ...) is a
    network judge too.

    Returns:
        ``(name, description)`` of every named judge.
    """
    return [(name, desc) for name, (_, desc) in JUDGES.items()]


def describe_judges() -> list[dict]:
    """Every named judge as a dict: ``name``, ``description``, ``dims`` (what it judges), ``labels``
    (its categories, ``[]`` for none), ``made_from`` (the data or study it was made from, with its
    calibration onto 1-9), ``held_out`` (in ``HELD_OUT``) and ``presets`` (the presets naming it).
    Each judge is built to read these (a network judge loads its model; ``lite2`` is trained and
    cached on first use); one that cannot be built says why in ``error``.

    Returns:
        One dict per named judge, JSON-ready.
    """
    rows = []
    for name, desc in available_judges():
        row = {"name": name, "description": desc, "held_out": name in HELD_OUT,
               "presets": [p for p, names in PRESETS.items() if name in names]}
        try:
            j = make_judge(name)
            row.update({"dims": list(j.dims), "labels": list(j.labels), "made_from": j.made_from})
        except EmosynthError as err:
            row.update({"dims": None, "labels": None, "made_from": None, "error": str(err).splitlines()[0]})
        rows.append(row)
    return rows


def make_judge(name: str, **kw) -> Judge:
    """The judge called ``name`` (or an alias), built with ``kw``.

    A saved model folder or a backbone name gives a ``NetworkJudge`` on it. ``NAME:DIM[+DIM]``
    (e.g. ``valdez-mehrabian:arousal``) keeps only those dimensions of the judge's verdict.

    Args:
        name: A judge name or alias, a saved model folder or a backbone name.
        **kw: Keyword arguments for the judge's constructor.

    Returns:
        The judge.

    Raises:
        JudgeError: ``name`` is neither a named judge nor a usable model folder or backbone.
    """
    text = str(name).strip()
    base, sep, keep = text.rpartition(":")
    if sep and base and keep and all(d.strip().lower() in DIMENSIONS for d in keep.split("+")):
        return DimensionsJudge(make_judge(base, **kw), [d.strip().lower() for d in keep.split("+")])
    key = ALIASES.get(text.lower(), text.lower())
    if key in JUDGES:
        return JUDGES[key][0](**kw)
    from ._network import NetworkJudge

    try:
        return NetworkJudge(name, name=str(name), **kw)
    except EmosynthError as err:
        raise JudgeError(f"unknown judge {name!r}: not one of {', '.join(JUDGES)} "
                         f"(or a model folder or backbone name: {err})") from None


def parse_judges(spec: str) -> list[Judge]:
    """``"consensus"`` (the network ensemble and the Valdez-Mehrabian colour judge), ``"default"``
    (the packaged predictor alone) or a comma-separated list of judge names → the judges.

    Args:
        spec: ``"consensus"``, ``"default"`` or a comma-separated list of judge names.

    Returns:
        The judges, in the order given.

    Raises:
        JudgeError: ``spec`` is empty, lists an empty name or a judge twice, or names an unknown judge.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise JudgeError("--judges needs 'consensus', 'default' or a comma-separated list of judges")
    key = spec.strip().lower()
    if key in PRESETS:
        return [make_judge(n) for n in PRESETS[key]]
    names = [s.strip() for s in spec.split(",")]
    if any(not n for n in names):
        raise JudgeError(f"--judges {spec!r}: an empty name in the list")
    if len({ALIASES.get(n.lower(), n.lower()) for n in names}) != len(names):
        raise JudgeError(f"--judges {spec!r}: the same judge twice")
    return [make_judge(n) for n in names]
