"""The public API of chainml: pinned, importable, and light to import."""

from __future__ import annotations

import subprocess
import sys

import pytest

import chainml

# Changing this list is a deliberate API change: update it together with chainml/__init__.py.
EXPECTED_ALL = [
    "ChainError",
    "ChainMLError",
    "ChainUnavailableError",
    "CompilationError",
    "Contract",
    "ContractRevertError",
    "DataDirectoryError",
    "Env",
    "InsufficientFundsError",
    "InvalidInputError",
    "NonceConflictError",
    "NotFoundError",
    "ProofError",
    "Receipt",
    "Settings",
    "TransactionRejectedError",
    "VerificationError",
    "WrongChainIdError",
    "__version__",
    "connect",
    "load_settings",
]


def test_all_is_pinned() -> None:
    assert chainml.__all__ == EXPECTED_ALL


def test_all_is_sorted_without_duplicates() -> None:
    assert chainml.__all__ == sorted(set(chainml.__all__))


@pytest.mark.parametrize("name", EXPECTED_ALL)
def test_every_public_name_is_importable(name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from chainml import {name}", namespace)
    assert namespace[name] is getattr(chainml, name)


def test_version_is_a_non_empty_string() -> None:
    assert isinstance(chainml.__version__, str)
    assert chainml.__version__


def test_public_errors_share_the_root() -> None:
    for name in EXPECTED_ALL:
        obj = getattr(chainml, name)
        if isinstance(obj, type) and name.endswith("Error"):
            assert issubclass(obj, chainml.ChainMLError), name


def _modules_after_import(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return set(result.stdout.split())


def test_import_chainml_does_not_import_heavy_optional_modules() -> None:
    loaded = _modules_after_import("import chainml")
    assert "chainml" in loaded  # the probe itself works
    heavy = {"vyper", "web3", "fastapi", "ezkl", "flwr", "lightgbm", "onnx", "torch"}
    assert not (heavy & loaded), sorted(heavy & loaded)
