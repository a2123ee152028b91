"""C2SP signed notes: Go's test vector, sign and open, and tampered notes that must fail."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from chainml.errors import DataDirectoryError, InvalidInputError
from chainml.log.note import (
    NoteVerificationError,
    Signer,
    load_or_create_signer,
    open_note,
    parse_signer,
    parse_verifier,
)

# From golang.org/x/mod/sumdb/note's note_test.go (TestSign): Ed25519 signatures are
# deterministic, so our signer must produce exactly Go's bytes.
GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    TEXT + "\n\u2014 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def test_go_vector() -> None:
    signer = parse_signer(GO_SIGNER)
    assert str(signer.verifier) == GO_VERIFIER
    assert signer.sign(TEXT) == GO_NOTE
    assert open_note(GO_NOTE.encode(), parse_verifier(GO_VERIFIER)) == TEXT
    assert "AYEK" not in repr(signer)


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def test_a_flipped_bit_anywhere_fails() -> None:
    verifier = parse_verifier(GO_VERIFIER)
    note = GO_NOTE.encode()
    with pytest.raises(NoteVerificationError):
        open_note(_flip(note, 3), verifier)  # the body
    signature_at = note.rindex(b" ") + 20  # inside the base64 signature
    with pytest.raises(NoteVerificationError):
        open_note(_flip(note, signature_at), verifier)
    wrong_key = _flip(verifier.public_key, 5)
    from chainml.log.note import Verifier

    with pytest.raises(NoteVerificationError, match="no signature by"):
        open_note(note, Verifier(verifier.name, wrong_key))  # the key id no longer matches
    other = Signer("PeterNeumann", b"\x07" * 32)
    with pytest.raises(NoteVerificationError, match="no signature by"):
        open_note(note, other.verifier)


def test_a_forged_signature_claiming_the_key_id_fails() -> None:
    verifier = parse_verifier(GO_VERIFIER)
    forged = Signer("PeterNeumann", b"\x09" * 32).sign(TEXT)
    blob = base64.b64decode(forged.rsplit(" ", 1)[1])
    claimed = verifier.key_id.to_bytes(4, "big") + blob[4:]
    note = TEXT + "\n\u2014 PeterNeumann " + base64.b64encode(claimed).decode() + "\n"
    with pytest.raises(NoteVerificationError, match="does not verify"):
        open_note(note.encode(), verifier)


def test_malformed_notes_and_keys_are_refused() -> None:
    verifier = parse_verifier(GO_VERIFIER)
    for bad in (b"", TEXT.encode(), b"\xff\n\n\xe2\x80\x94 x y\n", b"a" * 20000):
        with pytest.raises(NoteVerificationError):
            open_note(bad, verifier)
    for key in (GO_VERIFIER.replace("c74f20a3", "c74f20a4"), "a+b", GO_VERIFIER + "AA"):
        with pytest.raises(InvalidInputError):
            parse_verifier(key)
    with pytest.raises(InvalidInputError):
        Signer("has space", b"\x01" * 32)


def test_the_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "note.key"
    first = load_or_create_signer(path, "chainml/test")
    assert path.stat().st_mode & 0o777 == 0o600
    again = load_or_create_signer(path, "another-name")
    assert again.verifier == first.verifier
    path.write_text("PRIVATE+KEY+x+00000000+AAAA\n")
    with pytest.raises(DataDirectoryError):
        load_or_create_signer(path, "chainml/test")
