"""The human-validation study: a web app where people rate synthesised images on the
Self-Assessment Manikin (valence, arousal, dominance, 1-9), and the analysis of intended vs rated.

It reads run directories (``emosynth.rundir``) and never imports the synthesis code.
"""

from ._app import MAX_BODY, make_app, serve
from ._create import StudyConfig, create_study
from ._db import DEFAULT_DB, Image, Participant, Rating, Trial, dispose, sessions
from ._report import Analysis, analyse, export_study, report_study, write_report
from ._service import EXPORT_COLUMNS, ratings_frame, set_paused
from ._stats import icc2k, krippendorff_alpha_interval, mae, pearson, share_on_intended_side

__all__ = ["DEFAULT_DB", "EXPORT_COLUMNS", "MAX_BODY", "Analysis", "Image", "Participant", "Rating", "StudyConfig",
           "Trial", "analyse", "create_study", "dispose", "export_study", "icc2k", "krippendorff_alpha_interval",
           "mae", "make_app", "pearson", "ratings_frame", "report_study", "serve", "sessions", "set_paused",
           "share_on_intended_side", "write_report"]
