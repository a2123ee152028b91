"""How a process reaches an embedded data directory: as its owner, or through the owner.

The first process to open a directory for writing owns it (:mod:`chainml.chain.ownership`).
Another process that opens it goes through the owner's JSON-RPC endpoint when the owner
advertises one, signing locally with the directory's development accounts (the mnemonic
file), and is refused with :class:`~chainml.errors.DataDirectoryBusyError` (exit 6, naming
the owner's PID) when it does not. Within one process, every ``connect`` shares one backend.
"""

from __future__ import annotations

from chainml.chain.accounts import load_or_create_mnemonic, signers_from_mnemonic
from chainml.chain.embedded import EmbeddedBackend
from chainml.chain.env import Env
from chainml.chain.rpc import RpcBackend
from chainml.config import Settings
from chainml.errors import (
    ChainUnavailableError,
    DataDirectoryBusyError,
    DataDirectoryError,
    InvalidInputError,
    WrongChainIdError,
)


class OwnerEndpoint(RpcBackend):
    """The embedded chain of a data directory, reached through the process that owns it."""

    kind = "embedded"

    def __init__(self, busy: DataDirectoryBusyError, expected_chain_id: int | None) -> None:
        assert busy.url is not None
        self.owner_pid = busy.pid
        self.data_dir_shown = busy.path
        super().__init__(busy.url, expected_chain_id=expected_chain_id)

    @property
    def location(self) -> str:
        """The data directory, and the owner's PID and endpoint it is reached through."""
        return f"{self.data_dir_shown} (through process {self.owner_pid} at {self._shown_url})"


def open_embedded(settings: Settings, *, serve: bool = False) -> Env:
    """An Env on the embedded chain in ``settings.data_dir``; see the module docstring.

    With ``serve``, an owner also serves the chain on loopback JSON-RPC (and advertises it)
    until its Env closes, so that other processes can use the directory meanwhile.
    """
    try:
        backend = EmbeddedBackend.shared(settings.data_dir, durability=settings.durability)
    except DataDirectoryBusyError as busy:
        if busy.url is None:
            raise
        return _through_owner(settings, busy)
    try:
        if settings.chain_id is not None and settings.chain_id != backend.chain_id:
            raise WrongChainIdError(expected=settings.chain_id, actual=backend.chain_id)
        if serve and not backend.read_only:
            backend.serve()
    except BaseException:
        backend.close()
        raise
    return Env(
        backend, backend.signers, data_dir=settings.data_dir, fee_policy=settings.fee_policy()
    )


def reach_owner(settings: Settings, pid: int | None, url: str, *, read_only: bool = False) -> Env:
    """An Env on the embedded chain of ``settings.data_dir`` through its owner at ``url``.

    Never opens the directory's chain itself, even when the owner is gone (then
    DataDirectoryBusyError). ``read_only``: no signers, so this Env sends no transaction.
    """
    return _through_owner(
        settings, DataDirectoryBusyError(str(settings.data_dir), pid, url=url), read_only
    )


def _through_owner(
    settings: Settings, busy: DataDirectoryBusyError, read_only: bool = False
) -> Env:
    signers = (
        []
        if read_only
        else signers_from_mnemonic(
            load_or_create_mnemonic(settings.data_dir / "mnemonic", create=False)
        )
    )
    try:
        backend = OwnerEndpoint(busy, settings.chain_id)
    except ChainUnavailableError as err:  # advertised, but gone (stopping, or killed)
        raise DataDirectoryBusyError(busy.path, busy.pid) from err
    return Env(backend, signers, data_dir=settings.data_dir, fee_policy=settings.fee_policy())


def serve_embedded(settings: Settings, port: int = 0) -> tuple[Env, str]:
    """Own the embedded chain of ``settings.data_dir`` and serve it on 127.0.0.1:``port``.

    Returns the Env and the endpoint's URL; the chain is served until the Env is closed.
    A directory another process owns, or that this process cannot write, is refused.
    """
    if settings.rpc is not None:
        raise InvalidInputError(
            "`chain serve` serves the embedded chain; unset --rpc / CHAINML_RPC to use it"
        )
    backend = EmbeddedBackend.shared(settings.data_dir, durability=settings.durability)
    try:
        if backend.read_only:
            raise DataDirectoryError(
                str(settings.data_dir), "is read-only for this process: it cannot be served"
            )
        if settings.chain_id is not None and settings.chain_id != backend.chain_id:
            raise WrongChainIdError(expected=settings.chain_id, actual=backend.chain_id)
        url = backend.serve(port)
    except BaseException:
        backend.close()
        raise
    return Env(backend, backend.signers, data_dir=settings.data_dir), url
