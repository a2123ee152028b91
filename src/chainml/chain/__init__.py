"""Talking to an EVM chain: one ``Env`` over the embedded chain or any JSON-RPC node."""

from __future__ import annotations

from chainml.chain.accounts import Signer, signer_from_keystore
from chainml.chain.backend import Block, ChainBackend, Log, LogFilter, Receipt
from chainml.chain.compiler import CompiledContract, compile_file, compile_source
from chainml.chain.contract import Contract
from chainml.chain.env import Env
from chainml.chain.ownership import ensure_data_directory
from chainml.config import Settings, load_settings
from chainml.errors import InvalidInputError


def connect(settings: Settings | None = None, *, serve: bool = False) -> Env:
    """Open the chain the settings name: the embedded chain, or ``settings.rpc``.

    The embedded chain has one writing process per data directory: the first to open it
    owns it; others go through the owner's endpoint if it serves one, or are refused with
    :class:`~chainml.errors.DataDirectoryBusyError` naming its PID. ``serve=True`` makes an
    owner serve its chain on loopback JSON-RPC until the Env closes (long-running owners:
    ``chainml serve``, ``chainml chain serve``). A directory this process cannot write
    opens read-only. A ``network`` preset pins the chain id the node(s) must serve.
    """
    from chainml.chain.networks import apply_network

    settings = apply_network(settings or load_settings())
    if settings.rpc is None and settings.network is not None:
        raise InvalidInputError(
            f"network {settings.network!r} is a public chain: give its node URLs with --rpc / "
            "CHAINML_RPC (chainml ships none), or unset --network / CHAINML_NETWORK to use "
            "the embedded chain"
        )
    if settings.rpc is None:
        from chainml.chain.opening import open_embedded

        return open_embedded(settings, serve=serve)

    from chainml.chain.rpc import RpcBackend

    # The node first: "cannot reach the node" is the more useful news when both are wrong.
    rpc = RpcBackend(
        settings.rpc,
        expected_chain_id=settings.chain_id,
        max_lag_blocks=settings.rpc_max_lag_blocks,
        health_interval=settings.rpc_health_interval,
    )
    try:
        signers: list[Signer] = []
        if settings.private_key is not None:
            signers.append(Signer(settings.private_key))
        elif settings.keystore is not None:
            signers.append(signer_from_keystore(settings.keystore, settings.keystore_password))
        ensure_data_directory(settings.data_dir)
    except BaseException:
        rpc.close()
        raise
    # No key: a read-only Env (auditors verify receipts without one).
    return Env(rpc, signers, data_dir=settings.data_dir, fee_policy=settings.fee_policy())


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
