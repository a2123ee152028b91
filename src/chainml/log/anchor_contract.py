"""The log's anchor contract on each chain: found, deployed on first use, remembered, forgotten.

The log remembers one anchor contract per chain id (a store setting): a ``DecisionLog``,
deployed on first use, or a ``ChallengeableLog`` (optimistic verification: a bonded log whose
heads can be challenged) that the operator deployed and :func:`adopt_contract` remembered; the
anchorer drives both the same way. When a development node is reset that contract is gone,
and with it every head anchored there: :func:`forget_contract` drops the dead address and its
anchor records (never a log record), so the next anchor deploys a new contract.
"""

from __future__ import annotations

from dataclasses import dataclass

from chainml import contracts
from chainml.chain import Contract, Env
from chainml.errors import InvalidInputError, NotFoundError
from chainml.log.decision_log import DecisionLog
from chainml.log.store import AnchorRecord, checksummed

CONTRACT_NAME = "DecisionLog"
#: The bonded, challengeable anchor contract (chainml.inference.optimistic deploys it).
CHALLENGEABLE_NAME = "ChallengeableLog"
_KINDS = (CONTRACT_NAME, CHALLENGEABLE_NAME)


def contract_key(chain_id: int) -> str:
    """The store setting that remembers the log contract's address on one chain."""
    return f"contract:{chain_id}"


def kind_key(chain_id: int) -> str:
    """The store setting naming the remembered contract's kind (default DecisionLog)."""
    return f"contract-kind:{chain_id}"


def contract_kind(log: DecisionLog, chain_id: int) -> str:
    """Which contract anchors ``log`` on ``chain_id``: DecisionLog unless one was adopted."""
    kind = log.store.get_meta(kind_key(chain_id))
    return kind if kind in _KINDS else CONTRACT_NAME


def adopt_contract(env: Env, log: DecisionLog, address: str) -> Contract:
    """Make the ChallengeableLog at ``address`` this log's anchor contract on ``env``'s chain.

    Refused (InvalidInputError) when the log already remembers another contract there (forget
    it first) or when the contract already holds heads this log does not have.
    """
    compiled = env.compile(contracts.source_path(CHALLENGEABLE_NAME))
    contract = env.at(address, compiled)
    remembered = log.store.get_meta(contract_key(env.chain_id))
    if remembered is not None and checksummed(remembered) != contract.address:
        raise InvalidInputError(
            f"this log already anchors to {remembered} on chain {env.chain_id}; run "
            "`chainml log forget-anchor` first"
        )
    size = int(contract.size())
    if size > log.store.size or (size and log.store.root(size) != bytes(contract.root())):
        raise InvalidInputError(
            f"contract {contract.address} holds a head of size {size} that is not this log's"
        )
    log.store.set_meta(kind_key(env.chain_id), CHALLENGEABLE_NAME)
    log.store.set_meta(contract_key(env.chain_id), contract.address)
    return contract


def log_contract(env: Env, log: DecisionLog, *, deploy: bool = True) -> Contract:
    """The log's anchor contract on ``env``'s chain; deployed (and remembered) on first use."""
    compiled = env.compile(contracts.source_path(contract_kind(log, env.chain_id)))
    address = log.store.get_meta(contract_key(env.chain_id))
    if address is not None:
        try:
            return env.at(address, compiled)
        except NotFoundError as err:
            raise NotFoundError(
                f"the log's anchor contract {address} is gone from chain {env.chain_id} "
                "(was the node reset?); anchored heads there are lost. Run "
                "`chainml log forget-anchor` to forget it; the next anchor deploys anew"
            ) from err
    if not deploy:
        raise NotFoundError(
            f"this log has no anchor contract on chain {env.chain_id}; run `chainml log anchor`"
        )
    contract = env.deploy(compiled)
    log.store.set_meta(contract_key(env.chain_id), contract.address)
    return contract


@dataclass(frozen=True)
class ForgottenContract:
    """What :func:`forget_contract` removed."""

    chain_id: int
    contract: str
    was_remembered: bool  # the log's contract on that chain: the next anchor deploys anew
    anchors: list[AnchorRecord]  # the anchor records dropped, by size
    had_code: bool  # only with force: the contract was alive


def forget_contract(
    env: Env, log: DecisionLog, contract: str | None = None, *, force: bool = False
) -> ForgottenContract:
    """Forget a dead anchor contract of the log on ``env``'s chain (default: the remembered one).

    Refused (InvalidInputError) while the contract still has code on the chain, unless
    ``force``: its heads still anchor the log there. NotFoundError when the log knows nothing
    of the contract. Decisions are never touched.
    """
    chain_id = env.chain_id
    remembered = log.store.get_meta(contract_key(chain_id))
    if contract is None and remembered is None:
        raise NotFoundError(
            f"this log remembers no anchor contract on chain {chain_id}; name one with --contract"
        )
    target = checksummed(contract if contract is not None else str(remembered))
    was_remembered = remembered is not None and checksummed(remembered) == target
    if not was_remembered and not log.store.anchors(chain_id, target):
        raise NotFoundError(f"this log has nothing recorded for {target} on chain {chain_id}")
    had_code = bool(env.backend.code(target))
    if had_code and not force:
        raise InvalidInputError(
            f"contract {target} still has code on chain {chain_id}: its anchored heads are "
            "alive there. Forget it anyway with --force (the next anchor deploys a new contract)"
        )
    # Anchors first: interrupted here, the remembered address still names what to forget.
    anchors = log.store.forget_anchors(chain_id, target)
    if was_remembered:
        log.store.delete_meta(contract_key(chain_id))
        log.store.delete_meta(kind_key(chain_id))
    return ForgottenContract(chain_id, target, was_remembered, anchors, had_code)
