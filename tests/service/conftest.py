"""Fixtures for the service tests: a tiny stored model, fresh data directories, a client."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from chainml.config import Secret, Settings
from chainml.models.artifacts import ModelArtifact, load_model, models_dir, save_model
from chainml.models.simulator import simulate_payments
from chainml.models.train import train_model
from chainml.service import ServiceOptions, create_app

KEY = "test-api-key-0123456789abcdef"
HEADERS = {"X-API-Key": KEY}


def train_into(data_dir: Path, seed: int) -> ModelArtifact:
    """Train a small logistic regression on simulated payments and store it in ``data_dir``."""
    dataset = simulate_payments(3000, seed=seed).dataset()
    artifact, _ = save_model(data_dir, train_model(dataset, "lr", seed=seed, resamples=20))
    return artifact


@pytest.fixture(scope="session")
def stored_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[ModelArtifact]]:
    """Two different stored models (for hot swap), trained once per session."""
    data_dir = tmp_path_factory.mktemp("service-models") / "data"
    return data_dir, [train_into(data_dir, seed) for seed in (1, 2)]


@pytest.fixture
def data_dir(tmp_path: Path, stored_models: tuple[Path, list[ModelArtifact]]) -> Path:
    """A fresh data directory holding the stored models (and no log yet)."""
    target = tmp_path / "data"
    target.mkdir()
    shutil.copytree(models_dir(stored_models[0]), models_dir(target))
    return target


@pytest.fixture
def model(data_dir: Path, stored_models: tuple[Path, list[ModelArtifact]]) -> ModelArtifact:
    return load_model(data_dir, stored_models[1][0].model_id)


def options(model_id: str | None = None, **overrides: object) -> ServiceOptions:
    values: dict[str, object] = {"api_keys": (Secret(KEY),), "anchor": False}
    values.update(overrides)
    return ServiceOptions(model_id=model_id, **values)  # type: ignore[arg-type]


def make_app(data_dir: Path, model_id: str | None = None, **overrides: object) -> FastAPI:
    return create_app(Settings(data_dir=data_dir), options(model_id, **overrides))


@pytest.fixture
def client(data_dir: Path, model: ModelArtifact) -> Iterator[TestClient]:
    """A client of a service pinned to ``model``, anchoring off."""
    with TestClient(make_app(data_dir, model.model_id)) as test_client:
        yield test_client


def row(model: ModelArtifact, value: float = 1.0) -> list[float]:
    return [value] * len(model.feature_names)
