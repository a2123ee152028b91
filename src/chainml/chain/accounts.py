"""Accounts that sign transactions: local keys, development mnemonics and keystores.

A :class:`Signer` holds one private key and signs EIP-1559 transactions with it (via
coincurve, well under a millisecond). Its key never appears in ``repr``, logs or errors.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_account import Account
from eth_account.hdaccount.mnemonic import Mnemonic
from eth_keys import keys
from eth_utils import to_checksum_address

from chainml.config import Secret
from chainml.errors import DataDirectoryError, InvalidInputError

DEV_ACCOUNT_COUNT = 10
DEV_HD_PATH = "m/44'/60'/0'/0/{index}"


@dataclass(frozen=True)
class UnsignedTx:
    """The fields of an EIP-1559 transaction before signing."""

    chain_id: int
    nonce: int
    to: bytes  # empty for contract creation
    value: int
    data: bytes
    gas: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int


class Signer:
    """One account that can sign transactions; the key stays private."""

    __slots__ = ("_key", "address", "canonical_address")

    def __init__(self, private_key: bytes | Secret) -> None:
        raw = private_key.reveal() if isinstance(private_key, Secret) else private_key
        if isinstance(raw, str):
            try:
                raw = bytes.fromhex(raw.removeprefix("0x"))
            except ValueError:
                raise InvalidInputError("the private key is not hexadecimal") from None
        if len(raw) != 32:
            raise InvalidInputError(f"a private key has 32 bytes, this one has {len(raw)}")
        try:
            self._key = keys.PrivateKey(raw)
        except Exception:  # eth-keys rejects 0 and values >= the curve order
            raise InvalidInputError("the private key is outside the secp256k1 range") from None
        self.canonical_address: bytes = self._key.public_key.to_canonical_address()
        self.address: str = to_checksum_address(self.canonical_address)

    def sign(self, tx: UnsignedTx) -> tuple[bytes, bytes]:
        """Sign ``tx``; return (raw transaction bytes, transaction hash)."""
        unsigned = PragueTransactionBuilder.new_unsigned_dynamic_fee_transaction(
            chain_id=tx.chain_id,
            nonce=tx.nonce,
            max_priority_fee_per_gas=tx.max_priority_fee_per_gas,
            max_fee_per_gas=tx.max_fee_per_gas,
            gas=tx.gas,
            to=tx.to,
            value=tx.value,
            data=tx.data,
            access_list=(),
        )
        signed = unsigned.as_signed_transaction(self._key, chain_id=tx.chain_id)
        return bytes(signed.encode()), bytes(signed.hash)

    def __repr__(self) -> str:
        return f"Signer({self.address})"


def new_mnemonic() -> str:
    """Create a fresh 12-word BIP-39 mnemonic."""
    Account.enable_unaudited_hdwallet_features()
    _, mnemonic = Account.create_with_mnemonic()
    return str(mnemonic)


def signers_from_mnemonic(mnemonic: str, count: int = DEV_ACCOUNT_COUNT) -> list[Signer]:
    """Derive ``count`` accounts along the standard Ethereum HD path."""
    Account.enable_unaudited_hdwallet_features()
    return [
        Signer(bytes(Account.from_mnemonic(mnemonic, account_path=DEV_HD_PATH.format(index=i)).key))
        for i in range(count)
    ]


def load_or_create_mnemonic(path: Path, *, create: bool) -> str:
    """Read the development mnemonic at ``path``; create it (mode 0600) when allowed."""
    if path.exists():
        try:
            mnemonic = " ".join(path.read_text().split())
        except (OSError, UnicodeDecodeError) as err:
            raise DataDirectoryError(str(path.parent), f"cannot read {path.name}: {err}") from None
        if not Mnemonic().is_mnemonic_valid(mnemonic):
            raise DataDirectoryError(str(path.parent), f"{path.name} is not a BIP-39 mnemonic")
        return mnemonic
    if not create:
        raise DataDirectoryError(
            str(path.parent),
            f"{path.name} is missing while the chain database exists; refusing to create new "
            "accounts over an existing chain (restore the file or remove the directory)",
        )
    mnemonic = new_mnemonic()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(mnemonic + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return mnemonic


def signer_from_keystore(path: Path, password: Secret | None) -> Signer:
    """Decrypt an eth-account (Web3 Secret Storage) keystore file."""
    if password is None:
        raise InvalidInputError(f"keystore {path} needs a password: set CHAINML_KEYSTORE_PASSWORD")
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise InvalidInputError(f"keystore file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidInputError(f"keystore {path} is not a readable JSON file: {err}") from None
    try:
        key = Account.decrypt(document, password.reveal())
    except (ValueError, KeyError, TypeError):
        # deliberately no cause chained: the underlying error may quote key material
        raise InvalidInputError(
            f"cannot decrypt keystore {path}: wrong password or damaged file"
        ) from None
    return Signer(bytes(key))
