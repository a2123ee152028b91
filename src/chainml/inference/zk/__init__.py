"""Zero-knowledge proofs of inference with EZKL: circuit set-up, verifier, proofs of decisions.

EZKL (the ``zk`` extra) is imported only inside the child processes that run it. Public
names are listed in ``__all__`` and imported on first use; docs/zk.md tells the whole story.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chainml._lazy import lazy_exports

if TYPE_CHECKING:
    from chainml.inference.zk.proof import ZkAttachment, prove_decision
    from chainml.inference.zk.runner import ZkToolError
    from chainml.inference.zk.setup import ZkCircuit, load_circuit, setup_circuit
    from chainml.inference.zk.verifiers import (
        ZkVerifierRegistry,
        deploy_verifier,
        register_verifier,
        zk_registry,
    )
    from chainml.inference.zk.verify import ZkCheck, verify_decision

_EXPORTS = {
    "ZkAttachment": "chainml.inference.zk.proof",
    "ZkCheck": "chainml.inference.zk.verify",
    "ZkCircuit": "chainml.inference.zk.setup",
    "ZkToolError": "chainml.inference.zk.runner",
    "ZkVerifierRegistry": "chainml.inference.zk.verifiers",
    "deploy_verifier": "chainml.inference.zk.verifiers",
    "load_circuit": "chainml.inference.zk.setup",
    "prove_decision": "chainml.inference.zk.proof",
    "register_verifier": "chainml.inference.zk.verifiers",
    "setup_circuit": "chainml.inference.zk.setup",
    "verify_decision": "chainml.inference.zk.verify",
    "zk_registry": "chainml.inference.zk.verifiers",
}

__all__ = [
    "ZkAttachment",
    "ZkCheck",
    "ZkCircuit",
    "ZkToolError",
    "ZkVerifierRegistry",
    "deploy_verifier",
    "load_circuit",
    "prove_decision",
    "register_verifier",
    "setup_circuit",
    "verify_decision",
    "zk_registry",
]

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
