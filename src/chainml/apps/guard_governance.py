"""The governed path from a stored model to the guarded token's screening model.

:func:`install_model` takes a trained :class:`~chainml.models.artifacts.ModelArtifact` all the
way: fixed-point twin, generated Vyper contract (compiled, cached under the data directory),
deployment, registration in the ModelRegistry with the artifact and card hashes, the contract
attached with its code hash, a passed vote approving the model, and a passed vote calling
``set_model`` on the token. Steps already done on chain (registered, attached, approved) are
checked and skipped, so the path can be resumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chainml.apps.guard import GuardedToken
from chainml.chain import CompiledContract, Contract, Env
from chainml.errors import InvalidInputError, NotFoundError, VerificationError
from chainml.governance.governor import Governor
from chainml.governance.match import check_matches_registry
from chainml.governance.passing import pass_proposal
from chainml.governance.registry import ModelRegistry, ModelStatus, RegisteredModel
from chainml.inference.fixedpoint import FixedPointModel
from chainml.inference.onchain import compile_model
from chainml.models.artifacts import ModelArtifact


@dataclass(frozen=True)
class InstalledModel:
    """A model now screening the token's transfers, and how it got there."""

    model_id: str
    contract: str
    threshold: int
    fixed_point: FixedPointModel
    code_size: int
    proposals: tuple[int, ...]  # ids of the proposals passed on the way (approve, set_model)


def compile_model_contract(
    artifact: ModelArtifact, cache_dir: Path | None
) -> tuple[FixedPointModel, CompiledContract]:
    """The integer model of ``artifact`` and its compiled contract (integral inputs: scale 1)."""
    compiled = compile_model(artifact, cache_dir)  # refuses code over the EIP-170 limit
    return compiled.model, compiled.compiled


def _registered(registry: ModelRegistry, model_id: str) -> RegisteredModel | None:
    try:
        return registry.model(model_id)
    except NotFoundError:
        return None


def _model_contract(
    env: Env,
    registry: ModelRegistry,
    artifact: ModelArtifact,
    compiled: CompiledContract,
    entry: RegisteredModel | None,
) -> Contract:
    """The attached model contract, deploying and attaching it when there is none yet."""
    if entry is not None and entry.contract is not None:
        if env.backend.code(entry.contract) != compiled.runtime_bytecode:
            raise VerificationError(
                f"the contract attached to model {artifact.model_id} ({entry.contract}) does not "
                "hold the code generated from the stored model"
            )
        return env.at(entry.contract, compiled)
    contract = env.deploy(compiled)
    registry.attach_contract(artifact.model_id, contract.address)
    return contract


def install_model(
    env: Env,
    token: GuardedToken,
    artifact: ModelArtifact,
    governor: Governor,
    registry: ModelRegistry,
    *,
    threshold: int | None = None,
    uri: str | None = None,
) -> InstalledModel:
    """Screen ``token``'s transfers with ``artifact``, through the registry and two votes.

    ``threshold`` defaults to the integer threshold of the model's fixed-point twin (the
    card's threshold, quantized). The Env's sender registers the model and proposes.
    """
    cache = env.data_dir / "cache" / "vyper" if env.data_dir else None
    fixed, compiled = compile_model_contract(artifact, cache)
    use = str(token.contract.model_use())
    entry = _registered(registry, artifact.model_id)
    if entry is not None:
        check_matches_registry(artifact, entry)
    if entry is None:
        registry.register(
            artifact.model_id,
            str(artifact.card["artifact_hash"]),
            artifact.card_hash,
            uri or artifact.path.resolve().as_uri(),
        )
    elif entry.status == ModelStatus.REGISTERED and entry.registrant != env.sender:
        raise VerificationError(
            f"model {artifact.model_id} was registered by {entry.registrant}, not by "
            f"{env.sender}; if its id was claimed first by someone else, governance can give "
            f"it to you: chainml gov propose reassign {artifact.model_id} --registrant "
            f"{env.sender} ..."
        )
    elif entry.status == ModelStatus.RETIRED:
        raise InvalidInputError(f"model {artifact.model_id} is retired; train a new version")
    elif entry.status == ModelStatus.APPROVED and entry.use != use:
        raise InvalidInputError(
            f"model {artifact.model_id} is approved for {entry.use!r}, the token screens with "
            f"models approved for {use!r}"
        )
    contract = _model_contract(env, registry, artifact, compiled, entry)
    proposals = []
    if entry is None or entry.status != ModelStatus.APPROVED:
        proposals.append(
            pass_proposal(
                governor,
                registry.address,
                registry.approve_calldata(artifact.model_id, use),
                registry.approval_terms(artifact.model_id, use).describe(),
            )
        )
    chosen = fixed.threshold if threshold is None else threshold
    proposals.append(
        pass_proposal(
            governor,
            token.address,
            token.set_model_calldata(artifact.model_id, contract.address, chosen),
            f"screen {token.address} with {artifact.model_id} at threshold {chosen}",
        )
    )
    return InstalledModel(
        model_id=artifact.model_id,
        contract=contract.address,
        threshold=chosen,
        fixed_point=fixed,
        code_size=len(compiled.runtime_bytecode),
        proposals=tuple(proposals),
    )
