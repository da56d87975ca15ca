"""The human-validation study: a web app where people rate synthesised images on the
Self-Assessment Manikin (valence, arousal, dominance, 1-9), and the analysis of intended vs rated.

It reads run directories and stimulus folders (``emosynth.rundir``, ``emosynth stimuli``) and never
imports the synthesis code. Its database schema is versioned (Alembic, ``study/migrations``): ``HEAD``,
``migrate``, ``schema_revision``.
"""

from ._app import MAX_BODY, default_workers, make_app, serve
from ._create import StudyConfig, agreement, check_completion_url, create_study, held_out_judges, read_source
from ._db import (
    DEFAULT_DB,
    HEAD,
    Base,
    Image,
    Participant,
    Rating,
    Trial,
    dispose,
    migrate,
    schema_revision,
    sessions,
)
from ._report import Analysis, analyse, export_study, report_study, write_report
from ._service import (
    EXPORT_COLUMNS,
    PLATFORMS,
    consent,
    instructed,
    join,
    ratings_frame,
    set_paused,
    state,
    submit,
)
from ._stats import icc2k, krippendorff_alpha_interval, mae, pearson, share_on_intended_side

__all__ = ["DEFAULT_DB", "EXPORT_COLUMNS", "HEAD", "MAX_BODY", "PLATFORMS", "Analysis", "Base", "Image",
           "Participant", "Rating", "StudyConfig", "Trial", "agreement", "analyse", "check_completion_url",
           "consent", "create_study", "default_workers", "dispose", "export_study", "held_out_judges", "icc2k",
           "instructed", "join",
           "krippendorff_alpha_interval", "mae", "make_app", "migrate", "pearson", "ratings_frame", "read_source",
           "report_study", "schema_revision", "serve", "sessions", "set_paused", "share_on_intended_side", "state",
           "submit", "write_report"]
