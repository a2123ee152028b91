"""Client-side differential privacy: clip each update, add Gaussian noise, account for it.

A participant clips its update (new weights minus the global weights, all arrays as one
vector) to L2 norm ``clip`` and adds N(0, (noise_multiplier * clip)^2) to every coordinate
before it leaves the participant. Each round is then a Gaussian mechanism with that noise
multiplier on the participant's whole dataset (participant-level adjacency: its update
replaced by nothing, sensitivity ``clip``); ``epsilon`` composes the rounds with Google's
``dp-accounting`` RDP accountant. The epsilon holds against everyone who sees one update,
the aggregator included; secure aggregation only strengthens it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chainml.errors import InvalidInputError
from chainml.fl.params import Weights


@dataclass(frozen=True)
class PrivacySettings:
    """Clipping norm, noise multiplier and the delta the epsilon is stated at."""

    clip: float
    noise_multiplier: float
    delta: float = 1e-5


def privatize(
    update: Weights, settings: PrivacySettings, rng: np.random.Generator
) -> tuple[Weights, float]:
    """The clipped, noised update and the update's norm before clipping."""
    norm = float(np.sqrt(sum(float(np.sum(u * u)) for u in update)))
    factor = min(1.0, settings.clip / norm) if norm > 0 else 1.0
    sigma = settings.noise_multiplier * settings.clip
    noised = [u * factor + rng.normal(0.0, sigma, u.shape) for u in update]
    return noised, norm


def epsilon(noise_multiplier: float, rounds: int, delta: float) -> float:
    """Epsilon at ``delta`` of ``rounds`` Gaussian mechanisms (RDP accountant)."""
    import dp_accounting

    if noise_multiplier <= 0:
        return float("inf")
    accountant = dp_accounting.rdp.RdpAccountant()
    accountant.compose(dp_accounting.GaussianDpEvent(noise_multiplier), rounds)
    return float(accountant.get_epsilon(delta))


def noise_for_epsilon(target: float, rounds: int, delta: float) -> float:
    """The smallest noise multiplier (to 0.1%) whose epsilon is at most ``target``."""
    if target <= 0:
        raise InvalidInputError(f"--dp-epsilon must be positive, got {target}")
    low, high = 0.01, 1.0
    while epsilon(high, rounds, delta) > target:
        high *= 2
        if high > 1e6:
            raise InvalidInputError(f"epsilon {target} is out of reach")
    while high - low > 1e-3 * high:
        middle = (low + high) / 2
        if epsilon(middle, rounds, delta) > target:
            low = middle
        else:
            high = middle
    return high
