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
    sender: str | None = None,
) -> Contract:
    """Deploy a ChallengeableLog checked against ``registry`` (the deployer owns it).

    ``use`` binds the log to one use of the registry ("" accepts any approved use);
    ``window`` is the challenge window in blocks, ``required_bond`` the bond in wei an
    anchor needs.
    """
    if window < 1:
        raise InvalidInputError(f"the challenge window must be at least 1 block, got {window}")
    if required_bond < 0:
        raise InvalidInputError(f"the required bond must not be negative, got {required_bond}")
    if len(use.encode()) > 64:
        raise InvalidInputError(f"a use has at most 64 bytes, got {use!r}")
    return env.deploy(compiled_log(env), registry, use, window, required_bond, sender=sender)


def bind_log(env: Env, address: str) -> Contract:
    """A handle on the ChallengeableLog at ``address`` (NotFoundError if no code there).

    InvalidInputError when the code there is not ChallengeableLog's: compares the runtime
    code with the compiled one outside the immutables (the registry and the use hash, which
    Vyper appends after the code).
    """
    compiled = compiled_log(env)
    contract = env.at(address, compiled)
    code = env.backend.code(contract.address)
    expected = compiled.runtime_bytecode
    if code[: len(expected)] != expected or len(code) != len(expected) + 64:
        raise InvalidInputError(
            f"the contract at {contract.address} is not chainml's {CONTRACT_NAME} "
            "(its code differs): refusing to challenge it"
        )
    return contract
