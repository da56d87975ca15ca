import numpy as np
import pytest

from emosynth.emotions import EMOTION6_LABELS, CategorySet, Lexicon, from_sam, parse_scale, to_sam
from emosynth.errors import DataError, ScaleError


def test_oasis_scale_maps_endpoints_and_midpoint_onto_sam():
    np.testing.assert_allclose(to_sam([1, 4, 7], (1, 7)), [1, 5, 9])
    np.testing.assert_allclose(to_sam([0, 0.5, 1], "0-1"), [1, 5, 9])


def test_from_sam_inverts_to_sam():
    v = np.array([1.3, 2.7, 6.9])
    np.testing.assert_allclose(from_sam(to_sam(v, (1, 7)), (1, 7)), v)


def test_off_scale_value_is_refused_but_missing_passes():
    with pytest.raises(ScaleError, match="7.5 is outside"):
        to_sam([3, 7.5], (1, 7))
    assert np.isnan(to_sam([np.nan], (1, 7))[0])


@pytest.mark.parametrize("text", ["7-1", "abc", "1"])
def test_bad_scale_text(text):
    with pytest.raises(DataError):
        parse_scale(text)


def test_category_set_order_and_unknown_label():
    cats = CategorySet()
    assert cats.names == EMOTION6_LABELS and cats.index("neutral") == 6
    np.testing.assert_array_equal(cats.one_hot("joy"), np.eye(7)[3])
    with pytest.raises(DataError, match="unknown category 'happy'"):
        cats.index("happy")


def test_lexicon_dominance_from_words_and_distributions(data_root):
    lex = Lexicon.load(data_root / "lexicons")
    # Values from the Warriner et al. CSV itself.
    assert lex.lookup("joy")[2] == pytest.approx(7.0)
    assert lex.lookup("fear")[2] == pytest.approx(3.32)
    assert lex.lookup("babies") is not None  # plural falls back to the lemma
    assert lex.dominance_of_theme("Baby 10") == pytest.approx(lex.lookup("baby")[2])
    assert np.isnan(lex.dominance_of_theme("Xqzw 2"))
    p = np.zeros((2, 7))
    p[0, 3] = 1.0  # all raters said joy
    p[1, [2, 3]] = 0.5  # half fear, half joy
    d = lex.dominance_of_distribution(p)
    np.testing.assert_allclose(d, [7.0, (7.0 + 3.32) / 2])
