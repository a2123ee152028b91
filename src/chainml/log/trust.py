"""Trust roots: the contracts a verifier chose to trust, as Certificate Transparency has log lists.

A receipt proves something only relative to a log the *verifier* already trusts. A trust root
names a contract by ``(chain id, address, runtime code hash)``; nothing a receipt says about
itself is trusted. Written as text (``--log``, ``trusted_logs`` in chainml.toml,
``CHAINML_TRUSTED_LOGS``) a root is one of::

    ADDRESS                      # on the chain the verifier's node serves
    CHAIN_ID:ADDRESS             # code hash: chainml's own compiled contract
    CHAIN_ID:ADDRESS:CODEHASH    # code hash pinned explicitly (what `log identity` publishes)

Without an explicit code hash, the code at the address must be the contract chainml compiles
from its own source (``DecisionLog.vy`` for logs, ``ModelRegistry.vy`` for registries): a
contract that merely answers ``roots(size)`` with what a forger wants is refused. A log may also
be a ``ChallengeableLog`` (optimistic verification), which runs DecisionLog's own anchoring and
inclusion code as a module; its code is compared outside the immutables Vyper appends (the
registry, use and reward share it was deployed with), which say nothing about its roots.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from eth_utils import is_address, keccak, to_checksum_address

from chainml import contracts
from chainml.chain import Env
from chainml.errors import InvalidInputError, VerificationError
from chainml.log.decision_log import DecisionLog

LOG_CONTRACT = "DecisionLog"
#: Contracts a log root may name without a pinned hash, and the immutable bytes each appends.
_LOG_BUILDS = {LOG_CONTRACT: 0, "ChallengeableLog": 96}


@dataclass(frozen=True)
class TrustRoot:
    """A contract the verifier chose: its chain (None: the node's), address and code hash."""

    chain_id: int | None
    address: str  # EIP-55 checksummed
    code_hash: bytes | None = None  # None: the code hash of chainml's own compiled contract

    def names(self, chain_id: int, address: str, node_chain_id: int | None = None) -> bool:
        """Whether this root is the contract ``address`` on chain ``chain_id``.

        A root without a chain id stands for the chain of the verifier's node,
        ``node_chain_id``; before the node is known (None) it matches any chain, and the
        caller must check again once it is.
        """
        if self.address.lower() != address.lower():
            return False
        chain = self.chain_id if self.chain_id is not None else node_chain_id
        return chain is None or chain == chain_id

    def __str__(self) -> str:
        text = self.address if self.chain_id is None else f"{self.chain_id}:{self.address}"
        return text if self.code_hash is None else f"{text}:0x{self.code_hash.hex()}"


def parse_trust_root(text: str, what: str = "trusted log") -> TrustRoot:
    """Parse ``[CHAIN_ID:]ADDRESS[:CODEHASH]``; anything else is an InvalidInputError."""
    parts = text.strip().split(":") if isinstance(text, str) else []
    if len(parts) == 1:
        parts = ["", parts[0]]
    if len(parts) not in (2, 3):
        raise InvalidInputError(
            f"{what} {text!r} is not [CHAIN_ID:]ADDRESS[:CODEHASH] (e.g. 1337:0xAbC…)"
        )
    chain_text, address = parts[0], parts[1]
    chain_id: int | None = None
    if chain_text:
        if not chain_text.isdigit() or not 0 < int(chain_text) < 2**64:
            raise InvalidInputError(f"{what} {text!r}: chain id {chain_text!r} is not a chain id")
        chain_id = int(chain_text)
    if not is_address(address):
        raise InvalidInputError(f"{what} {text!r}: {address!r} is not an Ethereum address")
    code_hash: bytes | None = None
    if len(parts) == 3:
        hash_text = parts[2]
        try:
            code_hash = bytes.fromhex(hash_text.removeprefix("0x"))
        except ValueError:
            code_hash = b""
        if len(code_hash) != 32:
            raise InvalidInputError(
                f"{what} {text!r}: code hash {hash_text!r} is not 0x + 64 hex digits"
            )
    return TrustRoot(chain_id, str(to_checksum_address(address)), code_hash)


def trust_roots(entries: Iterable[str], what: str = "trusted log") -> tuple[TrustRoot, ...]:
    """Parse every entry (from ``--log`` options and the ``trusted_logs`` setting)."""
    return tuple(parse_trust_root(entry, what) for entry in entries)


def chainml_code_hash(env: Env, contract_name: str) -> bytes:
    """The runtime code hash of chainml's own ``contract_name``, compiled from its source."""
    compiled = env.compile(contracts.source_path(contract_name))
    return bytes(keccak(compiled.runtime_bytecode))


def is_chainml_build(env: Env, code: bytes, contract_name: str) -> bool:
    """Whether ``code`` is chainml's own ``contract_name`` (for a log: either log contract)."""
    builds = _LOG_BUILDS if contract_name == LOG_CONTRACT else {contract_name: 0}
    for name, immutable_bytes in builds.items():
        runtime = env.compile(contracts.source_path(name)).runtime_bytecode
        if len(code) == len(runtime) + immutable_bytes and code.startswith(runtime):
            return True
    return False


def check_code(env: Env, root: TrustRoot, contract_name: str) -> None:
    """The code at ``root.address`` hashes to the pinned hash, or is chainml's own contract.

    Raises :class:`VerificationError` otherwise (no code at all included).
    """
    code = env.backend.code(root.address)
    if not code:
        raise VerificationError(
            f"there is no contract at the trusted {contract_name} {root.address} on chain "
            f"{env.chain_id}"
        )
    actual = keccak(code)
    if root.code_hash is None and is_chainml_build(env, bytes(code), contract_name):
        return
    expected = root.code_hash or chainml_code_hash(env, contract_name)
    if actual != expected:
        source = "the pinned code hash" if root.code_hash else f"chainml's own {contract_name}"
        hint = " (`chainml log identity`)" if contract_name == LOG_CONTRACT else ""
        raise VerificationError(
            f"the code at {root.address} on chain {env.chain_id} hashes to 0x{actual.hex()}, "
            f"not 0x{expected.hex()} ({source}): it is not the {contract_name} you trust. If "
            f"its operator deployed it with another chainml version, pin the code hash it "
            f"publishes{hint} as CHAIN_ID:ADDRESS:CODEHASH"
        )


def operated_log(env: Env, log: DecisionLog) -> TrustRoot:
    """The trust root of a log this process operates itself: its own anchor contract.

    For the operator's own checks (the demo, tests); an outside verifier pins what the
    operator publishes (:func:`log_identity`) instead.
    """
    from chainml.log.anchor import log_contract

    return TrustRoot(env.chain_id, log_contract(env, log, deploy=False).address)


@dataclass(frozen=True)
class LogIdentity:
    """What an operator publishes so that verifiers can pin its log."""

    chain_id: int
    contract: str
    code_hash: bytes  # keccak256 of the runtime code, as EXTCODEHASH and eth_getProof say
    code_sha256: bytes  # SHA-256 of the same code, for verifiers with only hashlib
    is_chainml_build: bool  # the code is this chainml's own DecisionLog or ChallengeableLog

    @property
    def trust_root(self) -> str:
        """The ``CHAIN_ID:ADDRESS:CODEHASH`` entry a verifier puts in ``trusted_logs``."""
        return str(TrustRoot(self.chain_id, self.contract, self.code_hash))


def log_identity(env: Env, log: DecisionLog) -> LogIdentity:
    """The identity of ``log``'s anchor contract on ``env``'s chain (never deploys one)."""
    from chainml.log.anchor import log_contract

    contract = log_contract(env, log, deploy=False)
    code = env.backend.code(contract.address)
    actual = bytes(keccak(code))
    return LogIdentity(
        chain_id=env.chain_id,
        contract=contract.address,
        code_hash=actual,
        code_sha256=hashlib.sha256(code).digest(),
        is_chainml_build=is_chainml_build(env, bytes(code), LOG_CONTRACT),
    )
