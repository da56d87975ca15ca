"""Backbones, feature extraction and the emotion predictor.

The public modules (``backbones``, ``features``, ``heads``, ``handcrafted``, ``finetune``, ``predictor``,
``registry``, ``ensemble``) hold the details; the names most code needs are re-exported here.
"""

from .backbones import BACKBONE_NAMES, BACKBONES, POOLINGS, BackboneSpec, FeatureNet, build_feature_net, get_backbone
from .ensemble import PredictorEnsemble
from .features import ENGINES, FeatureConfig, FeatureExtractor, cache_root
from .predictor import DEFAULT_MODEL_DIR, EmotionHeads, EmotionModel, Predictor, PredictorConfig
from .registry import ALIASES, model_id, packaged_config, resolve_model

__all__ = ["ALIASES", "BACKBONES", "BACKBONE_NAMES", "DEFAULT_MODEL_DIR", "ENGINES", "POOLINGS", "BackboneSpec",
           "EmotionHeads", "EmotionModel", "FeatureConfig", "FeatureExtractor", "FeatureNet", "Predictor",
           "PredictorConfig", "PredictorEnsemble", "build_feature_net", "cache_root", "get_backbone", "model_id",
           "packaged_config", "resolve_model"]
