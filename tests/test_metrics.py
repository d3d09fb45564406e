"""Metrics on hand-made inputs with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from spokendigits import metrics


@pytest.fixture
def embeddings():
    rng = np.random.default_rng(0)
    return rng.standard_normal((2000, 8)) @ rng.standard_normal((8, 8))


def test_identical_sets_are_at_distance_zero(embeddings):
    assert metrics.frechet_distance(embeddings, embeddings) == pytest.approx(0, abs=1e-6)
    shifted = embeddings + 3.0
    assert abs(metrics.kernel_distance(embeddings, embeddings)) < \
        1e-3 * metrics.kernel_distance(embeddings, shifted)


def test_frechet_distance_has_its_closed_form(embeddings):
    shift = np.arange(8) / 4
    # Same covariance: only the means differ, FD = |shift|^2.
    assert metrics.frechet_distance(embeddings, embeddings + shift) == \
        pytest.approx(np.sum(shift**2), rel=1e-6)
    # Twice the spread: Tr(S + 4S - 2 * 2S) = Tr(S).
    trace = np.trace(np.cov(embeddings, rowvar=False))
    assert metrics.frechet_distance(embeddings, 2 * embeddings) == \
        pytest.approx(trace + np.sum(embeddings.mean(0) ** 2), rel=1e-6)
    # Two samples of N(0, I) and N(mu, I): FD ~ |mu|^2.
    rng = np.random.default_rng(1)
    mu = np.array([1.0, -2.0, 0.5])
    assert metrics.frechet_distance(rng.standard_normal((50000, 3)),
                                    rng.standard_normal((50000, 3)) + mu) == \
        pytest.approx(np.sum(mu**2), abs=0.03)


def test_kernel_distance_is_unbiased_and_grows_with_the_shift():
    rng = np.random.default_rng(2)
    same = [metrics.kernel_distance(rng.standard_normal((200, 4)), rng.standard_normal((200, 4)))
            for _ in range(50)]
    assert abs(np.mean(same)) < 3 * np.std(same) / np.sqrt(50)  # centred on 0
    first = rng.standard_normal((500, 4))
    near = metrics.kernel_distance(first, rng.standard_normal((500, 4)) + 0.5)
    far = metrics.kernel_distance(first, rng.standard_normal((500, 4)) + 2.0)
    assert 0 < near < far


def test_inception_score_of_one_hot_predictions():
    uniform = np.eye(10)[np.tile(np.arange(10), 100)]
    assert metrics.inception_score(uniform, splits=1) == pytest.approx((10.0, 0.0))
    by_class = np.eye(10)[np.repeat(np.arange(10), 100)]  # sorted, as clips usually come
    mean, std = metrics.inception_score(by_class)
    assert mean == pytest.approx(10.0, rel=0.05) and std < 0.5
    same = np.eye(10)[np.zeros(1000, int)]
    assert metrics.inception_score(same)[0] == pytest.approx(1.0)
    flat = np.full((1000, 10), 0.1)
    assert metrics.inception_score(flat)[0] == pytest.approx(1.0)


def test_precision_and_recall_of_identical_and_disjoint_sets(embeddings):
    assert metrics.precision_recall(embeddings[:300], embeddings[:300]) == (1.0, 1.0)
    assert metrics.precision_recall(embeddings[:300], embeddings[:300] + 1000.0) == (0.0, 0.0)


def test_precision_and_recall_separate_quality_from_coverage():
    rng = np.random.default_rng(3)
    real = rng.standard_normal((500, 2))
    # a generator that says only a corner of what real data says: good, but covers little
    corner = real[real[:, 0] > 1.0]
    precision, recall = metrics.precision_recall(real, corner)
    assert precision > 0.9 and recall < 0.4
    # one that covers everything, plus as many clips far from any real one
    spread = np.concatenate([real, rng.standard_normal((500, 2)) + 50.0])
    precision, recall = metrics.precision_recall(real, spread)
    assert precision == pytest.approx(0.5, abs=0.01) and recall == 1.0


def test_per_class_frechet_distance_needs_more_clips_than_dimensions(embeddings):
    labels = np.repeat([0, 1], 1000)
    per_class = metrics.frechet_distance_per_class(embeddings, labels, embeddings, labels)
    assert per_class == pytest.approx({0: 0.0, 1: 0.0}, abs=1e-6)
    few = np.repeat([0, 1], 8)  # 8 clips per class, 8 dimensions
    assert metrics.frechet_distance_per_class(embeddings[:16], few, embeddings, labels) is None


def test_equal_n_draws_are_disjoint_balanced_and_seeded():
    labels = np.repeat(np.arange(10), [40, 35, 50, 31, 30, 45, 60, 33, 38, 41])
    draws = metrics.disjoint_draws(labels, 6, 5, seed=4)
    assert len(draws) == 5
    for draw in draws:
        assert np.array_equal(np.bincount(labels[draw], minlength=10), np.full(10, 6))
    everything = np.concatenate(draws)
    assert len(np.unique(everything)) == len(everything) == 5 * 60  # no clip in two draws
    again = metrics.disjoint_draws(labels, 6, 5, seed=4)
    assert all(np.array_equal(a, b) for a, b in zip(draws, again))
    other = metrics.disjoint_draws(labels, 6, 5, seed=5)
    assert not np.array_equal(draws[0], other[0])
    with pytest.raises(ValueError, match="label 3 has 31 clips"):
        metrics.disjoint_draws(labels, 7, 5)


def test_accuracy_overall_and_per_class():
    predicted, asked = np.array([1, 1, 2, 0, 0]), np.array([1, 2, 2, 0, 1])
    assert metrics.accuracy(predicted, asked) == 0.6
    assert metrics.per_class_accuracy(predicted, asked) == {0: 1.0, 1: 0.5, 2: 0.5}


def test_spectral_convergence():
    reference = np.ones((4, 4))
    assert metrics.spectral_convergence(reference, reference) == 0
    assert metrics.spectral_convergence(reference, 0.5 * reference) == pytest.approx(0.5)
