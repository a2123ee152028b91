"""On-chain model governance: the model registry and the governor that approves models.

:class:`ModelRegistry` records model versions and which one is approved for each use;
:class:`Governor` lets weighted members propose, vote on and execute calls such as
``ModelRegistry.approve``; :func:`governance` finds (or deploys) both for a chain.
"""

from __future__ import annotations

from chainml.governance.deployments import governance, load_deployments, save_deployment
from chainml.governance.governor import Governor, Proposal, ProposalState, Support
from chainml.governance.registry import ModelRegistry, ModelStatus, RegisteredModel

__all__ = [
    "Governor",
    "ModelRegistry",
    "ModelStatus",
    "Proposal",
    "ProposalState",
    "RegisteredModel",
    "Support",
    "governance",
    "load_deployments",
    "save_deployment",
]
