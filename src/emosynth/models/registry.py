"""Which predictors judge a run: the packaged default, a saved model folder, or a backbone name.

A backbone name (``efficientnet-lite2``, or short ``lite2``) means a predictor trained here on
OASIS + Emotion6 with that backbone alone (avg+max pooling, flip, arousal from OASIS, as the default
model) — independently of the default model — and kept under ``$EMOSYNTH_CACHE/models/`` so the
next run reuses it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..errors import SynthError
from .features import cache_root
from .predictor import DEFAULT_MODEL_DIR, Predictor, PredictorConfig

ALIASES = {"lite0": "efficientnet-lite0", "lite1": "efficientnet-lite1", "lite2": "efficientnet-lite2",
           "mnv2": "mobilenetv2"}
TRAIN_DATASETS = ("oasis", "emotion6")


def resolve_model(spec: str | Path | None, data_root=None, progress=None) -> str:
    """A model folder for ``spec``: None or 'default' → the packaged model; an existing folder →
    itself; a backbone name → a predictor trained on that backbone (cached).

    Args:
        spec: None, ``"default"``, a saved model folder, or a backbone name (or its alias, ``lite2``).
        data_root: The folder holding OASIS and Emotion6, for training a backbone's predictor;
            defaults to ``$EMOSYNTH_DATA``.
        progress: A progress callback for the training, or None.

    Returns:
        The model folder, as a string.

    Raises:
        SynthError: ``spec`` is neither a saved model folder nor a backbone name.
        ModelError: The folder is not a valid saved model.
        DataError: The training data sets cannot be loaded.
    """
    if spec is None or str(spec) == "default":
        return str(DEFAULT_MODEL_DIR)
    p = Path(spec)
    if p.is_dir():
        Predictor.load(p)  # fails early with one line when it is not a model
        return str(p)
    name = ALIASES.get(str(spec), str(spec))
    from .backbones import BACKBONES

    if name not in BACKBONES:
        raise SynthError(f"{spec!r} is neither a saved model folder nor a backbone "
                         f"({', '.join(sorted(BACKBONES))}, or short: {', '.join(ALIASES)})")
    cfg = PredictorConfig(backbone=name, pooling="avgmax", flip=True, target_datasets={"arousal": ["oasis"]})
    key = hashlib.sha1(repr(sorted(cfg.__dict__.items())).encode()).hexdigest()[:10]
    out = cache_root() / "models" / f"{name}-{key}"
    if (out / "model.json").is_file():
        return str(out)
    from ..data import load_datasets
    from ..fsio import exclusive

    with exclusive(out.parent / f".{out.name}.lock"):  # two runs starting at once train it once
        if not (out / "model.json").is_file():
            sets = load_datasets(list(TRAIN_DATASETS), data_root)
            model = Predictor(cfg).fit(sets, progress=progress)
            model.save(out, {"datasets": list(TRAIN_DATASETS), "purpose": "judge for emosynth evolve"})
    return str(out)


def model_id(directory: str | Path) -> str:
    """``name:backbone:sha1-of-heads`` — identifies a model across machines.

    Args:
        directory: A saved model folder.

    Returns:
        The identifier; ``name`` is ``default`` for the packaged model, else the folder's name.

    Raises:
        ModelError: The folder is not a valid saved model.
    """
    directory = Path(directory)
    p = Predictor.load(directory)
    digest = hashlib.sha1((directory / "heads.npz").read_bytes()).hexdigest()[:12]
    name = "default" if directory.resolve() == DEFAULT_MODEL_DIR.resolve() else directory.name
    return f"{name}:{p.config.backbone}:{digest}"


def packaged_config(**overrides) -> PredictorConfig:
    """The recipe of the packaged model — its ``model.json`` config: backbone(s), pooling, flip, target data
    sets, components — with ``overrides`` applied: what ``emosynth evaluate`` and ``compare`` measure by default,
    so their figures are the model card's.

    Args:
        **overrides: ``PredictorConfig`` fields to change.

    Returns:
        The configuration.
    """
    import dataclasses
    import json

    known = {f.name for f in dataclasses.fields(PredictorConfig)}
    config = json.loads((DEFAULT_MODEL_DIR / "model.json").read_text())["config"]
    return PredictorConfig(**{**{k: v for k, v in config.items() if k in known}, **overrides})
