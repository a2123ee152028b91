"""What the watchtower reads from the chain: anchored heads, and each model's status at a block.

Both contracts are trust roots the watcher chose (:mod:`chainml.log.trust`): their code must
hash to chainml's own build or to a pinned hash, so a look-alike that reports convenient heads
or approvals is refused. Heads come from the log contract's ``Anchored`` events (size, root,
previous size, and the block that anchored them); a model's status is the registry's
``model(id)`` read at a given block by a historical ``eth_call``, as a challenge is judged
against the approval in force at the anchor's block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chainml import contracts
from chainml.chain import Contract, Env
from chainml.errors import WrongChainIdError
from chainml.governance.registry import ModelStatus
from chainml.log.trust import TrustRoot, check_code

REGISTRY_CONTRACT = "ModelRegistry"


@dataclass(frozen=True)
class AnchoredHead:
    """A tree head the log contract accepted: ``(size, root)``, at ``block_number``."""

    size: int
    root: bytes
    previous_size: int
    block_number: int


def _trusted(env: Env, root: TrustRoot, contract_name: str) -> Contract:
    if root.chain_id is not None and root.chain_id != env.chain_id:
        raise WrongChainIdError(root.chain_id, env.chain_id)
    check_code(env, root, contract_name)
    return env.at(root.address, env.compile(contracts.source_path(contract_name)))


class LogHeads:
    """The anchored heads of a trusted log contract, oldest first."""

    def __init__(self, env: Env, root: TrustRoot, contract_name: str = "DecisionLog") -> None:
        self.env = env
        self.address = root.address
        self.contract = _trusted(env, root, contract_name)

    def heads(
        self, after_size: int = 0, confirmations: int = 0, from_block: int = 0
    ) -> list[AnchoredHead]:
        """Heads larger than ``after_size`` in at least ``confirmations`` + 1 blocks, by size.

        Only events from ``from_block`` on are read (a watcher resuming after a verified head).
        """
        latest = self.env.block_number - confirmations
        if latest < 0 or from_block > latest:
            return []
        found = [
            AnchoredHead(
                size=int(event["size"]),
                root=bytes(event["root"]),
                previous_size=int(event["previous_size"]),
                block_number=int(event["_block"]),
            )
            for event in self.contract.events("Anchored", from_block=from_block, to_block=latest)
        ]
        return sorted((h for h in found if h.size > after_size), key=lambda h: h.size)

    def root_at(self, size: int) -> bytes:
        """The root anchored for ``size`` now (32 zero bytes: not anchored, or reorged away)."""
        return bytes(self.contract.roots(size))


class ModelStatusAt:
    """A trusted registry's ``model(id).status`` at a block, cached (history does not change)."""

    def __init__(self, env: Env, root: TrustRoot) -> None:
        self.env = env
        self.address = root.address
        self._view = _trusted(env, root, REGISTRY_CONTRACT).function("model", 1)
        self._cache: dict[tuple[bytes, int], ModelStatus] = {}

    def __call__(self, model_id: bytes, block: int) -> ModelStatus:
        """The model's status at ``block`` (UNKNOWN before the registry existed, or never)."""
        key = (model_id, block)
        if key not in self._cache:
            answer = self.env.call(self.address, self._view.encode_call((model_id,)), block=block)
            status = int(self._view.decode_result(answer)[5]) if answer else 0
            self._cache[key] = ModelStatus(status)
        return self._cache[key]


class ChallengeableHeads:
    """The anchored heads of a ChallengeableLog (code checked by ``bind_log``), by size."""

    def __init__(self, env: Env, address: str) -> None:
        from chainml.inference.optimistic.contract import bind_log

        self.env = env
        self.contract = bind_log(env, address)
        self.address = self.contract.address

    def heads(
        self, after_size: int = 0, confirmations: int = 0, from_block: int = 0
    ) -> list[AnchoredHead]:
        """Heads larger than ``after_size`` in at least ``confirmations`` + 1 blocks.

        Only events from ``from_block`` on are read (a watcher resuming after a verified head).
        """
        from chainml.inference.optimistic.heads import heads_of

        latest = self.env.block_number - confirmations
        if latest < 0 or from_block > latest:
            return []
        return [
            AnchoredHead(h.size, h.root, h.previous_size, h.anchored_block)
            for h in heads_of(self.contract, from_block=from_block)
            if h.size > after_size and h.anchored_block <= latest
        ]

    def root_at(self, size: int) -> bytes:
        """The root anchored for ``size`` (zero bytes: none, or reorged away)."""
        return bytes(self.contract.roots(size))

    def registry(self) -> str:
        """The ModelRegistry the contract judges records against."""
        return str(self.contract.REGISTRY())

    def use_tag(self) -> int:
        """The tag of the use the log's models must be approved for (0: any use)."""
        return int(self.contract.USE_TAG())


class BindingStatus:
    """A model's status at a block, as ChallengeableLog judges it: the registry's ``binding``.

    Approved at block ``b`` when ``0 < approved_block <= b`` and it was not retired by ``b``,
    for the log's use (when the log names one). One read per model: the blocks say the rest,
    so no historical state is needed (a pruned node answers too).
    """

    def __init__(self, env: Env, registry: str, use_tag: int = 0) -> None:
        from chainml.governance.registry import ModelRegistry

        self._registry = ModelRegistry.at(env, registry)
        self._use_tag = use_tag
        self._cache: dict[bytes, tuple[int, int, int]] = {}

    def __call__(self, model_id: bytes, block: int) -> ModelStatus:
        """APPROVED, RETIRED (retired by then, or approved later) or UNKNOWN."""
        if model_id not in self._cache:
            found = self._registry.binding(model_id)
            self._cache[model_id] = (found.approved_block, found.retired_block, found.use_tag)
        approved, retired, use_tag = self._cache[model_id]
        if approved == 0:
            return ModelStatus.UNKNOWN
        if self._use_tag != 0 and use_tag != self._use_tag:
            return ModelStatus.UNKNOWN  # approved, for another use
        if approved > block or (retired != 0 and retired <= block):
            return ModelStatus.RETIRED
        return ModelStatus.APPROVED


#: ``status(model_id, block)``: the registry's answer, or a stand-in in tests.
StatusAt = Callable[[bytes, int], ModelStatus]
