"""Tests of chainml.chain.accounts: keys, signing, development mnemonics and keystores."""

from __future__ import annotations

import json
import stat
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from chainml.chain.accounts import (
    Signer,
    UnsignedTx,
    load_or_create_mnemonic,
    signer_from_keystore,
    signers_from_mnemonic,
)
from chainml.config import Secret
from chainml.errors import ChainMLError, DataDirectoryError, InvalidInputError

# anvil's well-known development accounts (public, from its default mnemonic)
DEV_MNEMONIC = "test test test test test test test test test test test junk"
KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ADDRESS_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
ADDRESS_1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
KEY_0_BYTES = bytes.fromhex(KEY_0[2:])
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def chain_of(err: BaseException) -> Iterator[BaseException]:
    """The error and every error chained to it through __cause__ or __context__."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [err]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend([current.__cause__, current.__context__])


def assert_key_not_revealed(err: BaseException, key: bytes) -> None:
    forms = {key.hex(), key.hex().upper(), "0x" + key.hex(), str(int.from_bytes(key, "big"))}
    for link in chain_of(err):
        shown = f"{link!s} {link!r} {link.args!r}"
        for form in forms:
            assert form not in shown, f"key material in {type(link).__name__}"
    rendered = "".join(traceback.format_exception(err))
    for form in forms:
        assert form not in rendered


# ---------------------------------------------------------------------------------------------
# Signer


@pytest.mark.parametrize(
    "key",
    [
        KEY_0_BYTES,
        KEY_0,
        KEY_0[2:],
        Secret(KEY_0),
        Secret(KEY_0[2:]),
        Secret(KEY_0.upper().replace("0X", "0x")),
    ],
    ids=["bytes", "hex", "hex-no-prefix", "secret", "secret-no-prefix", "secret-upper"],
)
def test_signer_address_from_known_key(key: bytes | str | Secret) -> None:
    signer = Signer(key)  # type: ignore[arg-type]
    assert signer.address == ADDRESS_0
    assert signer.canonical_address == bytes.fromhex(ADDRESS_0[2:])
    assert to_checksum_address(signer.canonical_address) == signer.address


def test_signer_repr_shows_address_not_key() -> None:
    signer = Signer(KEY_0_BYTES)
    for shown in (repr(signer), str(signer), f"{signer}"):
        assert ADDRESS_0 in shown
        assert KEY_0[2:] not in shown.lower()
    assert not hasattr(signer, "__dict__")  # the key is not in a browsable instance dict


@pytest.mark.parametrize(
    "key",
    [
        b"\x01" * 31,
        b"\x01" * 33,
        b"",
        KEY_0[:-2],
        KEY_0 + "00",
        "0x" + "zz" * 32,
        KEY_0[:-1] + "g",
        "0x" + "00" * 32,
        b"\x00" * 32,
        SECP256K1_ORDER.to_bytes(32, "big"),
        b"\xff" * 32,
    ],
    ids=[
        "31-bytes",
        "33-bytes",
        "empty",
        "hex-short",
        "hex-long",
        "non-hex",
        "non-hex-last-digit",
        "zero-hex",
        "zero-bytes",
        "curve-order",
        "all-ff",
    ],
)
def test_bad_keys_are_invalid_input_without_the_key(key: bytes | str) -> None:
    with pytest.raises(InvalidInputError) as info:
        Signer(key)  # type: ignore[arg-type]
    message = str(info.value)
    raw = key if isinstance(key, bytes) else key.removeprefix("0x")
    shown_forms = [raw.hex()] if isinstance(raw, bytes) else [raw]
    for form in shown_forms:
        if form:  # the empty key has no form to leak
            assert form not in message
            assert form not in repr(info.value)
    # what a log or traceback shows (suppressed contexts are not shown)
    rendered = "".join(traceback.format_exception(info.value))
    for form in shown_forms:
        if form:
            assert form not in rendered


def test_bad_key_inside_a_secret_is_rejected() -> None:
    with pytest.raises(InvalidInputError):
        Signer(Secret("0x1234"))


def test_known_hex_key_errors_do_not_chain_the_key() -> None:
    # a near-miss of a real key (one digit short) must not leak through any chained error
    with pytest.raises(InvalidInputError) as info:
        Signer(KEY_0[:-1] + "x")
    assert_key_not_revealed(info.value, KEY_0_BYTES)


def _tx(**changes: object) -> UnsignedTx:
    fields: dict[str, object] = {
        "chain_id": 31337,
        "nonce": 7,
        "to": bytes.fromhex(ADDRESS_1[2:]),
        "value": 12345,
        "data": b"\xde\xad\xbe\xef",
        "gas": 54321,
        "max_fee_per_gas": 2_000_000_000,
        "max_priority_fee_per_gas": 1_000_000_000,
    }
    fields.update(changes)
    return UnsignedTx(**fields)  # type: ignore[arg-type]


def test_sign_produces_a_decodable_transaction_from_the_signer() -> None:
    signer = Signer(KEY_0_BYTES)
    tx = _tx()
    raw, tx_hash = signer.sign(tx)
    assert isinstance(raw, bytes)
    assert isinstance(tx_hash, bytes)
    assert len(tx_hash) == 32
    assert bytes(keccak(raw)) == tx_hash
    assert raw[0] == 2  # EIP-1559 typed transaction
    decoded = PragueTransactionBuilder.decode(raw)
    assert decoded.sender == signer.canonical_address
    assert decoded.chain_id == tx.chain_id
    assert decoded.nonce == tx.nonce
    assert decoded.gas == tx.gas
    assert decoded.value == tx.value
    assert decoded.data == tx.data
    assert decoded.to == tx.to
    assert decoded.max_fee_per_gas == tx.max_fee_per_gas
    assert decoded.max_priority_fee_per_gas == tx.max_priority_fee_per_gas
    assert bytes(decoded.hash) == tx_hash


def test_sign_contract_creation_has_empty_to() -> None:
    signer = Signer(KEY_0_BYTES)
    raw, _ = signer.sign(_tx(to=b"", data=b"\x60\x00"))
    decoded = PragueTransactionBuilder.decode(raw)
    assert decoded.to == b""
    assert decoded.sender == signer.canonical_address


def test_sign_differs_by_nonce_and_signer() -> None:
    first = Signer(KEY_0_BYTES)
    second = signers_from_mnemonic(DEV_MNEMONIC, count=2)[1]
    _, hash_a = first.sign(_tx(nonce=1))
    raw_b, hash_b = first.sign(_tx(nonce=2))
    raw_c, hash_c = second.sign(_tx(nonce=1))
    assert len({hash_a, hash_b, hash_c}) == 3
    assert PragueTransactionBuilder.decode(raw_c).sender == second.canonical_address
    assert PragueTransactionBuilder.decode(raw_b).nonce == 2


def test_sign_is_deterministic() -> None:
    # RFC 6979 signatures: the same transaction signs to the same bytes
    signer = Signer(KEY_0_BYTES)
    assert signer.sign(_tx()) == signer.sign(_tx())


# ---------------------------------------------------------------------------------------------
# development mnemonics


def test_signers_from_mnemonic_match_anvil() -> None:
    signers = signers_from_mnemonic(DEV_MNEMONIC, count=2)
    assert [s.address for s in signers] == [ADDRESS_0, ADDRESS_1]


def test_signers_from_mnemonic_default_count() -> None:
    signers = signers_from_mnemonic(DEV_MNEMONIC)
    assert len(signers) == 10
    assert len({s.address for s in signers}) == 10
    assert signers[0].address == ADDRESS_0


def test_load_or_create_mnemonic_creates_a_private_12_word_file(tmp_path: Path) -> None:
    path = tmp_path / "mnemonic"
    mnemonic = load_or_create_mnemonic(path, create=True)
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    words = path.read_text().split()
    assert len(words) == 12
    assert " ".join(words) == mnemonic
    # it is a real BIP-39 mnemonic: accounts derive from it
    assert len(signers_from_mnemonic(mnemonic, count=1)) == 1


def test_load_or_create_mnemonic_reuses_the_file(tmp_path: Path) -> None:
    path = tmp_path / "mnemonic"
    first = load_or_create_mnemonic(path, create=True)
    content = path.read_bytes()
    assert load_or_create_mnemonic(path, create=True) == first
    assert load_or_create_mnemonic(path, create=False) == first
    assert path.read_bytes() == content


def test_load_or_create_mnemonic_reads_an_existing_mnemonic(tmp_path: Path) -> None:
    path = tmp_path / "mnemonic"
    path.write_text("  " + DEV_MNEMONIC.replace(" ", "\n") + "\n\n")
    assert load_or_create_mnemonic(path, create=False) == DEV_MNEMONIC


def test_two_fresh_mnemonics_differ(tmp_path: Path) -> None:
    a = load_or_create_mnemonic(tmp_path / "a", create=True)
    b = load_or_create_mnemonic(tmp_path / "b", create=True)
    assert a != b


def test_load_or_create_mnemonic_refuses_to_create_when_not_allowed(tmp_path: Path) -> None:
    path = tmp_path / "mnemonic"
    with pytest.raises(DataDirectoryError) as info:
        load_or_create_mnemonic(path, create=False)
    assert info.value.path == str(tmp_path)
    assert "mnemonic" in str(info.value)
    assert not path.exists()


@pytest.mark.parametrize(
    "content",
    ["", "just some garbage", "word " * 11, "word " * 13, "x" * 200],
    ids=["empty", "garbage", "11-words", "13-words", "one-long-token"],
)
def test_load_or_create_mnemonic_rejects_garbage(tmp_path: Path, content: str) -> None:
    path = tmp_path / "mnemonic"
    path.write_text(content)
    with pytest.raises(DataDirectoryError, match="not a BIP-39 mnemonic"):
        load_or_create_mnemonic(path, create=True)
    assert path.read_text() == content  # not overwritten


def test_twelve_words_that_are_not_bip39_are_a_data_directory_error(tmp_path: Path) -> None:
    path = tmp_path / "mnemonic"
    path.write_text("zebra " * 11 + "qqqq\n")
    with pytest.raises(DataDirectoryError):
        signers_from_mnemonic(load_or_create_mnemonic(path, create=False), count=1)


def test_binary_mnemonic_file_is_a_data_directory_error(tmp_path: Path) -> None:
    path = tmp_path / "mnemonic"
    path.write_bytes(b"\xff\xfe\x00 not text")
    with pytest.raises(DataDirectoryError):
        load_or_create_mnemonic(path, create=False)


# ---------------------------------------------------------------------------------------------
# keystores


@pytest.fixture(scope="module")
def keystore_document() -> dict[str, object]:
    # a small scrypt work factor keeps the test fast; decryption reads it from the file
    return dict(Account.encrypt(KEY_0_BYTES, "pw", iterations=2**10))


@pytest.fixture
def keystore_file(tmp_path: Path, keystore_document: dict[str, object]) -> Path:
    path = tmp_path / "keystore.json"
    path.write_text(json.dumps(keystore_document))
    return path


def test_signer_from_keystore_decrypts(keystore_file: Path) -> None:
    signer = signer_from_keystore(keystore_file, Secret("pw"))
    assert signer.address == ADDRESS_0


def test_keystore_wrong_password(keystore_file: Path) -> None:
    with pytest.raises(InvalidInputError, match="cannot decrypt") as info:
        signer_from_keystore(keystore_file, Secret("not the password"))
    assert str(keystore_file) in str(info.value)
    assert_key_not_revealed(info.value, KEY_0_BYTES)
    assert "not the password" not in str(info.value)


def test_keystore_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    with pytest.raises(InvalidInputError, match="does not exist") as info:
        signer_from_keystore(path, Secret("pw"))
    assert_key_not_revealed(info.value, KEY_0_BYTES)


def test_keystore_not_json(tmp_path: Path) -> None:
    path = tmp_path / "keystore.json"
    path.write_text("this is not json {")
    with pytest.raises(InvalidInputError, match="not a readable JSON file") as info:
        signer_from_keystore(path, Secret("pw"))
    assert_key_not_revealed(info.value, KEY_0_BYTES)


def test_keystore_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError):
        signer_from_keystore(tmp_path, Secret("pw"))


def test_keystore_missing_password(keystore_file: Path) -> None:
    with pytest.raises(InvalidInputError, match="password") as info:
        signer_from_keystore(keystore_file, None)
    assert "CHAINML_KEYSTORE_PASSWORD" in str(info.value)
    assert_key_not_revealed(info.value, KEY_0_BYTES)


@pytest.mark.parametrize(
    "damage",
    ["empty-object", "list", "no-ciphertext", "bad-hex", "bad-kdf", "crypto-string", "bad-mac"],
)
def test_keystore_damaged_json(
    tmp_path: Path, keystore_document: dict[str, object], damage: str
) -> None:
    document = json.loads(json.dumps(keystore_document))  # deep copy
    crypto = document["crypto"]
    if damage == "empty-object":
        document = {}
    elif damage == "list":
        document = [document]
    elif damage == "no-ciphertext":
        del crypto["ciphertext"]
    elif damage == "bad-hex":
        crypto["ciphertext"] = "zz"
    elif damage == "bad-kdf":
        crypto["kdf"] = "nope"
    elif damage == "crypto-string":
        document["crypto"] = "x"
    elif damage == "bad-mac":
        crypto["mac"] = "00" * 32
    path = tmp_path / "keystore.json"
    path.write_text(json.dumps(document))
    with pytest.raises(InvalidInputError) as info:
        signer_from_keystore(path, Secret("pw"))
    assert_key_not_revealed(info.value, KEY_0_BYTES)


def test_keystore_binary_file_is_invalid_input(tmp_path: Path) -> None:
    path = tmp_path / "keystore.json"
    path.write_bytes(b"\xff\xfe\x00\x01 binary")
    with pytest.raises(InvalidInputError):
        signer_from_keystore(path, Secret("pw"))


def test_keystore_errors_belong_to_the_root(tmp_path: Path) -> None:
    with pytest.raises(ChainMLError):
        signer_from_keystore(tmp_path / "absent.json", Secret("pw"))
