"""emosynth: predict the emotion an image conveys, and synthesise images for a chosen emotion.

Emotion comes in three representations, all on the Self-Assessment Manikin 1–9 scale where
numeric: a category distribution, valence–arousal (VA) and valence–arousal–dominance (VAD).
"""

__version__ = "0.1.0"

from .errors import EmosynthError  # noqa: E402

__all__ = ["EmosynthError", "__version__"]
