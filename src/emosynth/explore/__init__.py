"""Explore what the predictor learned: activation maximisation (parametrisation × objective ×
transforms × render loop, after lucent). The visual statistics of image sets live in ``emosynth.report``."""

from ._objectives import Objective, ObjectiveError, default_objectives, parse_objective
from ._param import FourierImage, PixelImage, decorrelated_to_rgb, make_image, rgb_to_decorrelated
from ._render import VisualizeConfig, visualize

__all__ = ["FourierImage", "Objective", "ObjectiveError", "PixelImage", "VisualizeConfig", "decorrelated_to_rgb",
           "default_objectives", "make_image", "parse_objective", "rgb_to_decorrelated", "visualize"]
