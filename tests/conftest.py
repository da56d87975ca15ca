"""Shared fixtures: the real data sets (``$EMOSYNTH_DATA`` or ``../shared/data``) and a private cache."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _data_root() -> Path | None:
    env = os.environ.get("EMOSYNTH_DATA")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if (cand / "oasis" / "OASIS.csv").is_file() and (cand / "emotion6" / "ground_truth.txt").is_file():
            return cand
    return None


DATA_ROOT = _data_root()


@pytest.fixture(scope="session")
def data_root() -> Path:
    if DATA_ROOT is None:
        pytest.skip("real data not found: set EMOSYNTH_DATA to a folder with oasis/ and emotion6/ "
                    "(the project's shared/data)")
    return DATA_ROOT


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Tests never read or pollute the user's feature cache; one cache serves the whole session."""
    old = os.environ.get("EMOSYNTH_CACHE")
    os.environ["EMOSYNTH_CACHE"] = str(tmp_path_factory.mktemp("emosynth-cache"))
    yield
    if old is None:
        os.environ.pop("EMOSYNTH_CACHE", None)
    else:
        os.environ["EMOSYNTH_CACHE"] = old


@pytest.fixture(scope="session")
def oasis(data_root):
    from emosynth.data import load_dataset

    return load_dataset("oasis", data_root)


@pytest.fixture(scope="session")
def emotion6(data_root):
    from emosynth.data import load_dataset

    return load_dataset("emotion6", data_root)
