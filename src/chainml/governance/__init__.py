"""On-chain model governance: the model registry and the governor that approves models.

:class:`ModelRegistry` records model versions and which one is approved for each use;
:class:`Governor` lets weighted members propose, vote on and execute calls such as
``ModelRegistry.approve``; :func:`governance` finds (or deploys) both for a chain;
:func:`check_matches_registry` is the one check that a stored model is the one its registry
entry describes.
"""

from __future__ import annotations

from chainml.governance.deployments import governance, load_deployments, save_deployment
from chainml.governance.governor import Governor, Proposal, ProposalState, Support
from chainml.governance.match import LocalModel, check_matches_registry, registry_mismatches
from chainml.governance.registry import DEFAULT_USE, ModelRegistry, ModelStatus, RegisteredModel

__all__ = [
    "DEFAULT_USE",
    "Governor",
    "LocalModel",
    "ModelRegistry",
    "ModelStatus",
    "Proposal",
    "ProposalState",
    "RegisteredModel",
    "Support",
    "check_matches_registry",
    "governance",
    "load_deployments",
    "registry_mismatches",
    "save_deployment",
]
