"""The default use ("fraud-screening") is one constant, which the service, CLI and guard share."""

from __future__ import annotations

import inspect
from pathlib import Path

from chainml.apps.guard import GuardedToken
from chainml.cli.serve import serve
from chainml.governance import DEFAULT_USE
from chainml.service.options import ServiceOptions

SRC = Path(__file__).resolve().parents[2] / "src" / "chainml"


def test_every_default_is_the_constant() -> None:
    assert DEFAULT_USE == "fraud-screening"
    assert ServiceOptions().use is DEFAULT_USE
    assert inspect.signature(GuardedToken.deploy).parameters["use"].default is DEFAULT_USE
    assert inspect.signature(serve).parameters["use"].default is DEFAULT_USE


def test_the_literal_is_written_once() -> None:
    writers = [
        str(path.relative_to(SRC))
        for path in sorted(SRC.rglob("*.py"))
        if '"fraud-screening"' in path.read_text()
    ]
    assert writers == ["governance/registry.py"]
