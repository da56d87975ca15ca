"""Synthesis of emotion-driven images.

Quality-diversity search (MAP-Elites, with ribs) over image encodings, judged by the emotion
predictor: ``evolve(EvolveConfig(...), out)`` writes a run directory (``emosynth.rundir``).
"""

from ._encodings import ACTIVATIONS, CPPNEncoding, Encoding, PixelEncoding, make_encoding
from ._evolve import CHECKPOINT, EvolveConfig, evolve, transfer_check
from ._fitness import Evaluator, JudgeSpec, score_chunk
from ..models.registry import model_id, resolve_model
from ._spaces import SPACES, AffectSpace, CategorySpace, Space, make_space
from ..transforms import TransformConfig, random_transforms

__all__ = ["ACTIVATIONS", "CHECKPOINT", "SPACES", "AffectSpace", "CPPNEncoding", "CategorySpace", "Encoding",
           "EvolveConfig", "Evaluator", "JudgeSpec", "PixelEncoding", "Space", "TransformConfig", "evolve",
           "make_encoding", "make_space", "model_id", "random_transforms", "resolve_model", "score_chunk",
           "transfer_check"]
