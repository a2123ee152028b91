"""The anchored heads of a trusted DecisionLog contract, read-only, for a mirror to check."""

from __future__ import annotations

from chainml import contracts
from chainml.chain import Contract, Env
from chainml.errors import WrongChainIdError
from chainml.log.trust import LOG_CONTRACT, TrustRoot, check_code


class ContractHeads:
    """The heads a DecisionLog contract holds, after checking it is the one the verifier trusts."""

    def __init__(self, env: Env, root: TrustRoot) -> None:
        if root.chain_id is not None and root.chain_id != env.chain_id:
            raise WrongChainIdError(root.chain_id, env.chain_id)
        check_code(env, root, LOG_CONTRACT)  # a look-alike contract answering roots() is refused
        compiled = env.compile(contracts.source_path(LOG_CONTRACT))
        self._contract: Contract = env.at(root.address, compiled)

    def anchored_size(self) -> int:
        """The size of the latest anchored head (0: none)."""
        return int(self._contract.size())

    def root_at(self, size: int) -> bytes:
        """The root anchored for ``size`` (32 zero bytes if never anchored)."""
        return bytes(self._contract.roots(size))
