"""Differential privacy: clipping bounds the update; the accountant's epsilon is monotone."""

from __future__ import annotations

import numpy as np
import pytest

from chainml.errors import InvalidInputError
from chainml.fl.privacy import PrivacySettings, epsilon, noise_for_epsilon, privatize


def test_clipping_bounds_the_update_norm() -> None:
    update = [np.full(4, 3.0), np.array([4.0])]
    clipped, norm = privatize(update, PrivacySettings(clip=1.0, noise_multiplier=0.0),
                              np.random.default_rng(0))  # fmt: skip
    assert norm == pytest.approx(np.sqrt(4 * 9 + 16))
    assert np.sqrt(sum(np.sum(u * u) for u in clipped)) == pytest.approx(1.0)


def test_noise_has_the_calibrated_scale() -> None:
    zeros = [np.zeros(20_000)]
    noised, _ = privatize(zeros, PrivacySettings(clip=2.0, noise_multiplier=1.5),
                          np.random.default_rng(1))  # fmt: skip
    assert np.std(noised[0]) == pytest.approx(3.0, rel=0.03)


def test_more_noise_or_fewer_rounds_spend_less_epsilon() -> None:
    assert epsilon(2.0, 5, 1e-5) < epsilon(1.0, 5, 1e-5)
    assert epsilon(1.0, 2, 1e-5) < epsilon(1.0, 5, 1e-5)
    assert epsilon(0.0, 5, 1e-5) == float("inf")


@pytest.mark.parametrize("target", [1.0, 3.0, 8.0])
def test_noise_for_epsilon_inverts_the_accountant(target: float) -> None:
    sigma = noise_for_epsilon(target, 5, 1e-5)
    assert epsilon(sigma, 5, 1e-5) <= target
    assert epsilon(sigma * 0.99, 5, 1e-5) > target * 0.98


def test_a_non_positive_epsilon_is_refused() -> None:
    with pytest.raises(InvalidInputError):
        noise_for_epsilon(0.0, 5, 1e-5)
