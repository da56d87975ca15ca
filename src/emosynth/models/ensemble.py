"""Several predictors × random transforms judged as one: the ``--robust`` judge.

``PredictorEnsemble`` has the Predictor's image → emotion interface (``labels``, ``input_size``,
``predict_tensor``, torch outputs) so synthesis code never knows how many networks judge. Each
(transform, predictor) pair is one *member view*; ``predict_members`` / ``forward`` keep them apart
(R = transforms × predictors, transform-major) because the search spaces combine them their own way
(mean probabilities, mean log-probabilities, worst error); ``predict_tensor`` averages them.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..transforms import TransformConfig, random_transforms


class PredictorEnsemble:
    """``predictors`` (loaded ``Predictor`` objects) judging each image under ``transforms`` random
    transforms (0: the image as given). Labels are the first predictor's.

    Args:
        predictors: Loaded ``Predictor`` objects (at least one).
        transforms: Random transforms per image; 0: the image as given.
        seed: Seed (or seed sequence) for ``np.random.default_rng`` when no generator is passed.
        transform_config: Ranges of the random transforms.
    """

    def __init__(self, predictors: Sequence, transforms: int = 0, seed: int | Sequence[int] = 0,
                 transform_config: TransformConfig = TransformConfig()):
        if not predictors:
            raise ValueError("an ensemble needs at least one predictor")
        self.predictors = list(predictors)
        self.transforms = int(transforms)
        self.transform_config = transform_config
        self.seed = seed

    @property
    def labels(self) -> list[str]:
        return self.predictors[0].labels

    @property
    def input_size(self) -> int:
        """The largest member's input side (px): render at this size, each member resizes down."""
        return max(p.input_size for p in self.predictors)

    def __len__(self) -> int:
        """Member views per image: (transforms or 1) × predictors."""
        return max(self.transforms, 1) * len(self.predictors)

    def _rng(self, rng):
        return rng if rng is not None else np.random.default_rng(self.seed)

    def views(self, images: torch.Tensor, rng: np.random.Generator | None = None) -> list[torch.Tensor]:
        """The images as the members see them: as given, or ``transforms`` random transforms of them.

        Args:
            images: Float tensor (N, 3, H, W) in [0, 1].
            rng: The generator for the transforms; None: a fresh one from ``seed``.

        Returns:
            One tensor (N, 3, H, W) per view.
        """
        if not self.transforms:
            return [images]
        rng = self._rng(rng)
        return [random_transforms(images, rng, self.transform_config) for _ in range(self.transforms)]

    def predict_members(self, images: torch.Tensor, rng: np.random.Generator | None = None,
                        engine: str = "auto") -> dict[str, np.ndarray]:
        """Fast path per member view: ``vad`` (R, n, 3) on 1–9, ``probabilities`` (R, n, K) (zeros (R, n, 1)
        for a predictor without a category head).

        Args:
            images: Float tensor (N, 3, H, W) in [0, 1].
            rng: The generator for the transforms; None: a fresh one from ``seed``.
            engine: The inference engine (as ``Predictor.predict_tensor``).

        Returns:
            ``{"vad": (R, n, 3), "probabilities": (R, n, K)}`` numpy arrays, V/A/D on SAM 1–9.
        """
        vad, probs = [], []
        for view in self.views(images, rng):
            for p in self.predictors:
                pred = p.predict_tensor(view, engine=engine)
                vad.append(pred["vad"])
                probs.append(pred.get("probabilities", np.zeros((len(images), 1))))
        return {"vad": np.stack(vad), "probabilities": np.stack(probs)}

    def predict_tensor(self, images: torch.Tensor, rng: np.random.Generator | None = None,
                       engine: str = "auto") -> dict[str, np.ndarray]:
        """As ``Predictor.predict_tensor``, averaged over the member views.

        Args:
            images: Float tensor (N, 3, H, W) in [0, 1].
            rng: The generator for the transforms; None: a fresh one from ``seed``.
            engine: The inference engine (as ``Predictor.predict_tensor``).

        Returns:
            ``vad`` (n, 3) on SAM 1–9 and, when there are labels, ``probabilities`` (n, K).
        """
        members = self.predict_members(images, rng, engine)
        out = {"vad": members["vad"].mean(0)}
        if self.labels:
            out["probabilities"] = members["probabilities"].mean(0)
        return out

    def modules(self, flip: bool = True) -> list:
        """Each predictor's torch module (``Predictor.module``).

        Args:
            flip: Average each image's and its mirror image's features.

        Returns:
            One module per predictor.
        """
        return [p.module(flip=flip) for p in self.predictors]

    def forward(self, views: Sequence[torch.Tensor], flip: bool = True) -> list[dict[str, torch.Tensor]]:
        """Differentiable outputs per member view of ``views`` (from ``views()``, possibly row-sliced),
        in the order of ``predict_members``.

        Args:
            views: Float tensors (N, 3, H, W) in [0, 1], from ``views()``.
            flip: Average each image's and its mirror image's features.

        Returns:
            One output dict of tensors per member view.
        """
        modules = self.modules(flip)
        return [m(view) for view in views for m in modules]
