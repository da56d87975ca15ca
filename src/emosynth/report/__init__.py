"""Reports: plots and documents (Markdown + self-contained HTML) built from results.

The report package reads results (a comparison's ``CompareResult``, run directories, data sets) and
never feeds back into what made them: ``compare`` computes, ``report`` writes.
"""

from ._document import Document
from .analysis import ImageSet, agreement, effects, extract, feature_names, from_dataset, from_run, gather
from .analysis_report import analyze
from .compare_report import build_report as write_compare_report
from .compare_report import check_publish, headline_table, publish
from .gallery import EMOTION6_VA_CENTROIDS, MARKER, THUMB_SIZE, build_gallery, category_regions, count_images

__all__ = ["EMOTION6_VA_CENTROIDS", "MARKER", "THUMB_SIZE", "Document", "ImageSet", "agreement", "analyze",
           "build_gallery", "category_regions", "count_images", "effects", "extract", "feature_names",
           "from_dataset", "from_run", "gather", "headline_table", "publish", "check_publish",
           "write_compare_report"]
