"""Reports: plots and documents (Markdown + self-contained HTML) built from results."""

from ._document import Document

__all__ = ["Document"]
