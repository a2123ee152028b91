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
    "Dataset",
    "DecisionLog",
    "Env",
    "InsufficientFundsError",
    "InvalidInputError",
    "Model",
    "NonceConflictError",
    "NotFoundError",
    "ProofError",
    "Receipt",
    "Service",
    "Settings",
    "TransactionRejectedError",
    "TransactionTimeoutError",
    "VerificationError",
    "WrongChainIdError",
    "__version__",
    "connect",
    "load_settings",
    "verify_receipt",
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


def _subpackage_exports() -> dict[str, list[str]]:
    import chainml.governance
    import chainml.inference
    import chainml.log
    import chainml.models

    return {
        "chainml.governance": chainml.governance.__all__,
        "chainml.inference": chainml.inference.__all__,
        "chainml.log": chainml.log.__all__,
        "chainml.models": chainml.models.__all__,
    }


# The subpackages' public APIs: changing one of these lists is a deliberate API change.
EXPECTED_SUBPACKAGES = {
    "chainml.governance": [
        "DEFAULT_USE", "Governor", "LocalModel", "ModelRegistry", "ModelStatus", "Proposal",
        "ProposalState", "RegisteredModel", "Support", "check_matches_registry", "governance",
        "load_deployments", "registry_mismatches", "save_deployment",
    ],
    "chainml.inference": [
        "CompiledModel", "DecisionPolicy", "FixedPointModel", "InputSpec", "ParityReport",
        "check_parity", "compile_model", "decision_policy", "deploy_model", "generate_vyper",
        "policy_from_bytes", "quantized_model", "score_rows",
    ],
    "chainml.log": [
        "AnchorPolicy", "AnchorRecord", "Anchorer", "Decision", "DecisionLog", "DecisionRecord",
        "LogStore", "PostgresLogStore", "SqliteLogStore", "TreeHead", "TrustRoot",
        "build_receipt", "check_approved", "check_receipt", "consistency_proof",
        "forget_contract", "inclusion_proof", "log_contract", "parse_trust_root",
        "request_id_from", "verify_consistency", "verify_inclusion", "verify_receipt",
    ],
    "chainml.models": [
        "BoostedTreesModel", "Dataset", "Estimator", "LogisticModel", "MLPModel",
        "ModelArtifact", "Schema", "SchemaError", "TimeSplit", "TrainedModel", "list_models",
        "load_dataset", "load_model", "make_estimator", "make_split", "save_model",
        "simulate_payments", "time_split", "train_model",
    ],
    "chainml.service": ["ServiceOptions", "create_app"],
}  # fmt: skip


@pytest.mark.parametrize("package", sorted(EXPECTED_SUBPACKAGES))
def test_subpackage_all_is_pinned_and_sorted(package: str) -> None:
    import importlib

    module = importlib.import_module(package)
    assert module.__all__ == EXPECTED_SUBPACKAGES[package]
    assert module.__all__ == sorted(set(module.__all__))


@pytest.mark.parametrize(
    ("package", "name"),
    [(p, n) for p, names in sorted(EXPECTED_SUBPACKAGES.items()) for n in names],
)
def test_every_subpackage_name_is_importable(package: str, name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from {package} import {name}", namespace)
    assert namespace[name] is not None
    assert name in dir(__import__(package, fromlist=["_"]))


def test_an_unknown_name_is_an_attribute_error() -> None:
    import chainml.models

    with pytest.raises(AttributeError, match="no attribute 'train_modle'"):
        _ = chainml.models.train_modle  # type: ignore[attr-defined]  # a typo
    assert _subpackage_exports()["chainml.models"] == EXPECTED_SUBPACKAGES["chainml.models"]


@pytest.mark.parametrize(
    "package",
    ["chainml.log", "chainml.models", "chainml.inference", "chainml.governance", "chainml.service"],
)
def test_importing_a_subpackage_stays_light(package: str) -> None:
    loaded = _modules_after_import(f"import {package}")
    heavy = {"sklearn", "scipy", "lightgbm", "onnx", "onnxruntime", "fastapi", "vyper", "web3"}
    assert not (heavy & loaded), sorted(heavy & loaded)
