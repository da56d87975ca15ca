"""Sample photos that ship with emosynth (CC0 / public domain; see sample_images/CREDITS.md)."""

from pathlib import Path

SAMPLE_DIR = Path(__file__).resolve().parent / "sample_images"


def sample_paths() -> list[Path]:
    """The packaged sample photos, sorted by name."""
    return sorted(SAMPLE_DIR.glob("*.jpg"))
