"""Backbones, feature extraction and the emotion predictor."""
