"""Inference modes: fixed-point models evaluated bit-exactly in Python and inside the EVM.

Public names are listed in ``__all__`` and imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chainml._lazy import lazy_exports

if TYPE_CHECKING:
    from chainml.inference.batch import score_rows
    from chainml.inference.codegen import generate_vyper
    from chainml.inference.fixedpoint import FixedPointModel, InputSpec
    from chainml.inference.onchain import (
        CompiledModel,
        ParityReport,
        check_parity,
        compile_model,
        deploy_model,
    )
    from chainml.inference.policy import (
        DecisionPolicy,
        decision_policy,
        policy_from_bytes,
        quantized_model,
    )

_EXPORTS = {
    "CompiledModel": "chainml.inference.onchain",
    "DecisionPolicy": "chainml.inference.policy",
    "FixedPointModel": "chainml.inference.fixedpoint",
    "InputSpec": "chainml.inference.fixedpoint",
    "ParityReport": "chainml.inference.onchain",
    "check_parity": "chainml.inference.onchain",
    "compile_model": "chainml.inference.onchain",
    "decision_policy": "chainml.inference.policy",
    "deploy_model": "chainml.inference.onchain",
    "generate_vyper": "chainml.inference.codegen",
    "policy_from_bytes": "chainml.inference.policy",
    "quantized_model": "chainml.inference.policy",
    "score_rows": "chainml.inference.batch",
}

__all__ = [
    "CompiledModel",
    "DecisionPolicy",
    "FixedPointModel",
    "InputSpec",
    "ParityReport",
    "check_parity",
    "compile_model",
    "decision_policy",
    "deploy_model",
    "generate_vyper",
    "policy_from_bytes",
    "quantized_model",
    "score_rows",
]

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
