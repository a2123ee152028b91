"""Talking to an EVM chain: one ``Env`` over the embedded chain or any JSON-RPC node."""

from __future__ import annotations

from chainml.chain.accounts import Signer, signer_from_keystore
from chainml.chain.backend import Block, ChainBackend, Log, LogFilter, Receipt
from chainml.chain.compiler import CompiledContract, compile_file, compile_source
from chainml.chain.contract import Contract
from chainml.chain.env import Env
from chainml.config import Settings, ensure_directory, load_settings
from chainml.errors import WrongChainIdError


def connect(settings: Settings | None = None) -> Env:
    """Open the chain the settings name: the embedded chain, or ``settings.rpc``."""
    settings = settings or load_settings()
    if settings.rpc is None:
        from chainml.chain.embedded import EmbeddedBackend

        embedded = EmbeddedBackend(settings.data_dir, durability=settings.durability)
        if settings.chain_id is not None and settings.chain_id != embedded.chain_id:
            embedded.close()
            raise WrongChainIdError(expected=settings.chain_id, actual=embedded.chain_id)
        return Env(embedded, embedded.signers, data_dir=settings.data_dir)

    from chainml.chain.rpc import RpcBackend

    # The node first: "cannot reach the node" is the more useful news when both are wrong.
    rpc = RpcBackend(settings.rpc, expected_chain_id=settings.chain_id)
    try:
        signers: list[Signer] = []
        if settings.private_key is not None:
            signers.append(Signer(settings.private_key))
        elif settings.keystore is not None:
            signers.append(signer_from_keystore(settings.keystore, settings.keystore_password))
        ensure_directory(settings.data_dir)
    except BaseException:
        rpc.close()
        raise
    # No key: a read-only Env (auditors verify receipts without one).
    return Env(rpc, signers, data_dir=settings.data_dir)


__all__ = [
    "Block",
    "ChainBackend",
    "CompiledContract",
    "Contract",
    "Env",
    "Log",
    "LogFilter",
    "Receipt",
    "Signer",
    "compile_file",
    "compile_source",
    "connect",
]
