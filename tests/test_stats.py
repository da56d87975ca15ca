"""Statistics on fixtures whose answers are known in closed form or by construction."""

import numpy as np
import pytest

from emosynth.stats import (
    category_centroids,
    dimensions_from_categories,
    mean_ci,
    nearest_centroid,
    noise_ceiling_r,
    paired_test,
    reliability_of_means,
    split_half_reliability,
)


def test_mean_ci_matches_the_t_interval():
    m, half = mean_ci([1, 2, 3, 4, 5])
    # t(0.975, 4) = 2.7764; sd = 1.5811
    assert m == 3 and half == pytest.approx(2.7764451 * 1.5811388 / np.sqrt(5), rel=1e-6)
    assert np.isnan(mean_ci([4.0])[1])
    assert mean_ci([1, np.nan, 3])[0] == 2


def test_paired_test_sees_a_consistent_difference_and_not_noise():
    rng = np.random.default_rng(0)
    base = rng.normal(0.5, 0.05, 5)
    diff, p = paired_test(base + 0.03 + rng.normal(0, 0.003, 5), base)
    assert diff == pytest.approx(0.03, abs=0.005) and p < 0.001
    assert paired_test(base, base) == (0.0, 1.0)
    _, p = paired_test(base + rng.normal(0, 0.05, 5), base + rng.normal(0, 0.05, 5))
    assert p > 0.01
    with pytest.raises(ValueError):
        paired_test([1, 2], [1, 2, 3])


def test_reliability_recovers_a_simulated_rater_panel():
    """True scores sd 1, raters' noise sd 2, 100 raters per image: reliability 1 / (1 + 4/100)."""
    rng = np.random.default_rng(1)
    true = rng.normal(4, 1, 3000)
    ratings = true[:, None] + rng.normal(0, 2, (3000, 100))
    means, sds, ns = ratings.mean(1), ratings.std(1, ddof=1), np.full(3000, 100)
    expected = 1 / (1 + 4 / 100)
    assert reliability_of_means(means, sds, ns) == pytest.approx(expected, abs=0.01)
    # Two halves of 50 raters each: 1 / (1 + 4/50).
    assert split_half_reliability(means, sds, ns) == pytest.approx(1 / (1 + 4 / 50), abs=0.01)
    assert noise_ceiling_r(means, sds, ns) == pytest.approx(np.sqrt(expected), abs=0.01)
    # The ceiling is what it says: the observed means correlate with the truth at about √reliability.
    assert np.corrcoef(means, true)[0, 1] == pytest.approx(np.sqrt(expected), abs=0.01)


def test_oasis_ceiling_is_high_but_below_one(oasis):
    o = oasis.original
    for dim in ("Valence", "Arousal"):
        ceiling = noise_ceiling_r(o[f"{dim}_mean"], o[f"{dim}_SD"], o[f"{dim}_N"])
        assert 0.9 < ceiling < 1.0, dim


def test_centroids_and_the_mappings_between_representations():
    P = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0.5, 0.5]])
    Y = np.array([[2.0, 6.0], [4.0, 6.0], [8.0, 4.0], [6.0, 2.0]])
    C = category_centroids(P, Y)
    np.testing.assert_allclose(C[0], [3, 6])
    np.testing.assert_allclose(C[1], [(8 + 0.5 * 6) / 1.5, (4 + 0.5 * 2) / 1.5])
    np.testing.assert_allclose(C[2], [6, 2])
    np.testing.assert_allclose(dimensions_from_categories([[0.5, 0, 0.5]], C), [[4.5, 4.0]])
    assert nearest_centroid([[3.1, 5.9], [6.2, 2.1]], C).tolist() == [0, 2]
    # A category nobody voted for has no centroid and is never the nearest.
    C2 = category_centroids(np.c_[P, np.zeros(4)], Y)
    assert np.isnan(C2[3]).all()
    assert nearest_centroid([[0.0, 0.0]], C2)[0] != 3


def test_constant_baseline_and_ceilings_on_the_real_data(oasis, emotion6):
    from emosynth.evaluate import constant_baseline, noise_ceilings

    base = constant_baseline([oasis, emotion6], folds=5, seed=0)
    # The prior's argmax is joy everywhere: accuracy = joy's share of the raters' argmax (638 / 1980).
    assert base["emotion6"]["category"]["accuracy"] == pytest.approx(638 / 1980, abs=0.01)
    assert "r" not in base["oasis"]["valence"] and base["oasis"]["valence"]["mae"] > 1.0
    ceil = noise_ceilings([oasis, emotion6])
    assert set(ceil) == {"oasis"} and set(ceil["oasis"]) == {"valence", "arousal"}
    # The packaged model sits between the constant predictor and the ceiling.
    from emosynth.models.predictor import Predictor

    card = Predictor.load().card_["evaluation"]["datasets"]
    assert card["oasis"]["valence"]["mae"] < base["oasis"]["valence"]["mae"]
    assert card["oasis"]["valence"]["r"] < ceil["oasis"]["valence"]["r"]
    assert card["emotion6"]["category"]["kl"] < base["emotion6"]["category"]["kl"]
