"""Registering a stored model in its chain's registry: once, and only as the model it is.

``chainml model register`` and :meth:`chainml.Model.register` both call
:func:`register_model`. A model already registered with the same hashes by the same account is
left as it is; one registered with other hashes, or by another account, is a
:class:`VerificationError` that says how governance can reassign it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chainml.chain import Env
from chainml.errors import NotFoundError, VerificationError
from chainml.governance.deployments import deployment, governance
from chainml.governance.match import LocalModel, registry_mismatches
from chainml.governance.registry import ModelRegistry, RegisteredModel


@dataclass(frozen=True)
class Registration:
    """The registry entry of a model, and what this registration did."""

    entry: RegisteredModel
    registry: str  # the ModelRegistry's address
    new: bool  # False: it was already registered (with the same hashes, by this account)
    deployed_governance: bool  # True: the governance contracts were deployed on this call
    block_number: int | None = None  # of the registering transaction, when new
    gas_used: int | None = None


def register_model(env: Env, data_dir: Path, model: LocalModel, uri: str) -> Registration:
    """Record ``model`` (id, artifact hash, card hash, ``uri``) in ``env``'s chain registry.

    Deploys the governance contracts of ``data_dir`` on first use. Registering is not
    approval: that takes a governance vote.
    """
    fresh = deployment(data_dir, env.chain_id) is None
    _, registry = governance(env, data_dir)
    artifact_hash = str(model.card["artifact_hash"])
    existing = lookup(registry, model.model_id)
    if existing is not None:
        problems = registry_mismatches(model, existing)
        if existing.registrant != env.sender:
            problems.append(f"it was registered by {existing.registrant}, not {env.sender}")
        if problems:
            raise VerificationError(
                f"model {model.model_id} is registered with other hashes or registrant: "
                + "; ".join(problems)
                + ". If someone claimed your model's id first, governance can give it to "
                f"you: chainml gov propose reassign {model.model_id} --registrant "
                f"{env.sender} --artifact-hash {artifact_hash} --card-hash "
                f"{model.card_hash} --uri {uri}"
            )
        return Registration(existing, registry.address, new=False, deployed_governance=fresh)
    receipt = registry.register(model.model_id, artifact_hash, model.card_hash, uri)
    return Registration(
        registry.model(model.model_id),
        registry.address,
        new=True,
        deployed_governance=fresh,
        block_number=receipt.block_number,
        gas_used=receipt.gas_used,
    )


def lookup(registry: ModelRegistry, model_id: str) -> RegisteredModel | None:
    """The registry's entry for ``model_id``, or None when it was never registered."""
    try:
        return registry.model(model_id)
    except NotFoundError:
        return None
