"""The ChallengeableLog contract on an Env: compile, deploy, bind (with its code checked).

A handle is bound only to code that is this chainml's own compiled ChallengeableLog (its
runtime code hash, immutables aside, is not something a document can claim): anything else at
the address is refused, so a challenger never sends a fraud proof to an impostor.
"""

from __future__ import annotations

from chainml import contracts
from chainml.chain import CompiledContract, Contract, Env
from chainml.errors import InvalidInputError

CONTRACT_NAME = "ChallengeableLog"
#: A day of 12-second blocks: the default challenge window.
DEFAULT_WINDOW = 7_200
#: 0.1 ETH: the default bond an operator posts before its first anchor.
DEFAULT_BOND = 10**17
#: Bytes of immutables Vyper appends to the runtime code: REGISTRY, USE_TAG, REWARD_BPS.
IMMUTABLE_BYTES = 96
#: The whole bond goes to the first successful challenger unless the deployer sets a share.
FULL_REWARD_BPS = 10_000


def compiled_log(env: Env) -> CompiledContract:
    """ChallengeableLog compiled (cached under the Env's data directory)."""
    return env.compile(contracts.source_path(CONTRACT_NAME))


def deploy_log(
    env: Env,
    registry: str,
    *,
    use: str = "",
    window: int = DEFAULT_WINDOW,
    required_bond: int = DEFAULT_BOND,
    reward_bps: int = FULL_REWARD_BPS,
    sender: str | None = None,
) -> Contract:
    """Deploy a ChallengeableLog checked against ``registry`` (the deployer owns it).

    ``use`` binds the log to one use of the registry ("" accepts any approved use);
    ``window`` is the challenge window in blocks, ``required_bond`` the bond in wei an
    anchor needs, ``reward_bps`` the share of the bond a successful challenger receives
    (basis points; fixed for the contract's life).
    """
    if not 1 <= window < 2**30:
        raise InvalidInputError(f"the challenge window must be in [1, 2^30) blocks, got {window}")
    if not 0 <= required_bond < 2**80:
        raise InvalidInputError(f"the required bond must be in [0, 2^80) wei, got {required_bond}")
    if not 0 <= reward_bps <= FULL_REWARD_BPS:
        raise InvalidInputError(f"the reward share must be in [0, 10000] bps, got {reward_bps}")
    if len(use.encode()) > 64:
        raise InvalidInputError(f"a use has at most 64 bytes, got {use!r}")
    compiled = compiled_log(env)
    return env.deploy(compiled, registry, use, window, required_bond, reward_bps, sender=sender)


def bind_log(env: Env, address: str) -> Contract:
    """A handle on the ChallengeableLog at ``address`` (NotFoundError if no code there).

    InvalidInputError when the code there is not ChallengeableLog's: compares the runtime
    code with the compiled one outside the immutables (the registry, the use tag and the
    reward share, which Vyper appends after the code: :data:`IMMUTABLE_BYTES`).
    """
    compiled = compiled_log(env)
    contract = env.at(address, compiled)
    code = env.backend.code(contract.address)
    expected = compiled.runtime_bytecode
    if code[: len(expected)] != expected or len(code) != len(expected) + IMMUTABLE_BYTES:
        raise InvalidInputError(
            f"the contract at {contract.address} is not chainml's {CONTRACT_NAME} "
            "(its code differs): refusing to challenge it"
        )
    return contract
