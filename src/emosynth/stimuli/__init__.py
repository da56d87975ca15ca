"""Stimulus sets for studies: choose N images per design cell so the cells differ in emotion and not in
low-level features, report the balance, optionally equalise, and export for jsPsych, PsychoPy or CSV.

``make_stimuli(StimuliConfig(...), out)`` writes a stimulus folder (``emosynth stimuli``);
``export_stimuli(folder, fmt, out)`` writes an export of one (``emosynth stimuli export``). The pieces:
``parse_design`` (``"valence=2,5,8 x arousal=3,7"``), ``feature_names`` / ``features_of`` (the features a
set can be balanced on), ``assign_cells`` / ``choose`` (eligibility and the swap search),
``balance_table`` (mean ± sd per cell, SMDs, one-way tests) and ``equalise`` (SHINE-style).
"""

from ._balance import balance_table
from ._design import Cell, Design, parse_design
from ._equalise import METHODS as EQUALISE_METHODS
from ._equalise import equalise, equalise_histograms, equalise_spectra
from ._export import FORMATS, export_stimuli, read_stimuli
from ._features import STIMULUS_FEATURES, feature_names, features_of, image_features, resolve_features, spectral_slope
from ._make import DEFAULT_BALANCE, KIND, StimuliConfig, make_stimuli
from ._report import SMD_GOAL
from ._select import assign_cells, choose, selection_smd, smd_pairs

__all__ = ["Cell", "DEFAULT_BALANCE", "Design", "EQUALISE_METHODS", "FORMATS", "KIND", "SMD_GOAL", "STIMULUS_FEATURES",
           "StimuliConfig", "assign_cells", "balance_table", "choose", "equalise", "equalise_histograms",
           "equalise_spectra", "export_stimuli", "feature_names", "features_of", "image_features", "make_stimuli",
           "parse_design", "read_stimuli", "resolve_features", "selection_smd", "smd_pairs", "spectral_slope"]
