"""C2SP signed notes with Ed25519 keys: the operator's signing key, its verifier key, sign, open.

A signed note is UTF-8 text ending in a newline, a blank line, and signature lines
``— <key name> <base64(key id || signature)>``. An Ed25519 key's id is the first 4 bytes of
SHA-256(name || 0x0A || 0x01 || public key); a verifier key is written
``<name>+<key id hex>+<base64(0x01 || public key)>`` and a signer key
``PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 || seed)>``, as Go's ``golang.org/x/mod/sumdb/note``
writes them. See https://c2sp.org/signed-note.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from chainml.errors import DataDirectoryError, InvalidInputError, VerificationError

ED25519 = 1  # the signature algorithm byte of Ed25519 keys
_DASH = "\u2014 "  # an em dash and a space start every signature line
#: Notes larger than this are refused before parsing (checkpoints are a few hundred bytes).
MAX_NOTE_BYTES = 16 * 1024
_MAX_SIGNATURES = 100


class NoteVerificationError(VerificationError):
    """A signed note is malformed, or carries no valid signature by the expected key."""


def _check_name(name: str) -> str:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise InvalidInputError(f"key name {name!r} must be non-empty, without spaces or '+'")
    return name


def key_id(name: str, public_key: bytes) -> int:
    """The 32-bit id of an Ed25519 key named ``name``."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


@dataclass(frozen=True)
class Verifier:
    """An Ed25519 verifier key: who signed, and the public key to check it with."""

    name: str
    public_key: bytes  # 32 bytes

    @property
    def key_id(self) -> int:
        """The key's 32-bit id, as it prefixes each of its signatures."""
        return key_id(self.name, self.public_key)

    def __str__(self) -> str:
        encoded = base64.b64encode(bytes([ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id:08x}+{encoded}"


def parse_verifier(text: str) -> Verifier:
    """Parse ``name+hash+base64(0x01 || public key)``; anything else is an InvalidInputError."""
    parts = text.strip().split("+", 2)  # base64 has '+' too
    if len(parts) != 3:
        raise InvalidInputError(f"verifier key {text!r} is not NAME+KEYID+BASE64KEY")
    name, hash_text, key_text = parts
    _check_name(name)
    try:
        key = base64.b64decode(key_text, validate=True)
        claimed = int(hash_text, 16) if len(hash_text) == 8 else -1
    except (binascii.Error, ValueError):
        raise InvalidInputError(f"verifier key {text!r}: the key is not base64") from None
    if len(key) != 33 or key[0] != ED25519:
        raise InvalidInputError(f"verifier key {text!r} is not an Ed25519 key")
    verifier = Verifier(name, key[1:])
    if claimed != verifier.key_id:
        raise InvalidInputError(f"verifier key {text!r}: key id does not match name and key")
    return verifier


class Signer:
    """An Ed25519 signing key with a name; the private key never appears in ``repr``."""

    __slots__ = ("_key", "verifier")

    def __init__(self, name: str, seed: bytes) -> None:
        if len(seed) != 32:
            raise InvalidInputError(f"an Ed25519 seed has 32 bytes, this one has {len(seed)}")
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        public = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = Verifier(_check_name(name), public)

    def __repr__(self) -> str:
        return f"Signer({self.verifier})"

    def sign(self, text: str) -> str:
        """The signed note of ``text`` (which must end in a newline)."""
        _check_text(text)
        signature = self._key.sign(text.encode())
        blob = self.verifier.key_id.to_bytes(4, "big") + signature
        return f"{text}\n{_DASH}{self.verifier.name} {base64.b64encode(blob).decode()}\n"

    def _signer_key(self, seed: bytes) -> str:
        encoded = base64.b64encode(bytes([ED25519]) + seed).decode()
        return f"PRIVATE+KEY+{self.verifier.name}+{self.verifier.key_id:08x}+{encoded}"


def _check_text(text: str) -> None:
    if not text.endswith("\n") or "\n\n" in text:
        raise InvalidInputError("a note's text ends in one newline and has no blank line")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise InvalidInputError("a note's text has no control characters but newlines")


def open_note(data: bytes, verifier: Verifier) -> str:
    """The text of the signed note ``data`` if ``verifier``'s key signed it; else an error.

    Signatures by other keys are ignored, as the spec says; a signature line that claims the
    verifier's name and id but does not verify fails the note (no second chance).
    """
    if len(data) > MAX_NOTE_BYTES:
        raise NoteVerificationError(f"the note is over {MAX_NOTE_BYTES} bytes")
    try:
        note = data.decode("utf-8")
    except UnicodeDecodeError:
        raise NoteVerificationError("the note is not UTF-8") from None
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise NoteVerificationError("the note has no signature block")
    text, lines = note[: split + 1], note[split + 2 : -1].split("\n")
    try:
        _check_text(text)
    except InvalidInputError as err:
        raise NoteVerificationError(f"malformed note: {err}") from None
    if len(lines) > _MAX_SIGNATURES:
        raise NoteVerificationError(f"the note has over {_MAX_SIGNATURES} signatures")
    verified = False
    for line in lines:
        name, blob = _signature_line(line)
        if name != verifier.name or int.from_bytes(blob[:4], "big") != verifier.key_id:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(verifier.public_key).verify(blob[4:], text.encode())
        except InvalidSignature:
            raise NoteVerificationError(
                f"the signature by {verifier.name} does not verify"
            ) from None
        verified = True
    if not verified:
        raise NoteVerificationError(f"the note carries no signature by {verifier}")
    return text


def _signature_line(line: str) -> tuple[str, bytes]:
    if not line.startswith(_DASH):
        raise NoteVerificationError(f"malformed signature line {line[:80]!r}")
    name, _, encoded = line[len(_DASH) :].partition(" ")
    try:
        blob = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise NoteVerificationError(f"signature of {name!r} is not base64") from None
    if not name or len(blob) < 5:
        raise NoteVerificationError(f"malformed signature line {line[:80]!r}")
    return name, blob


def load_or_create_signer(path: Path, name: str) -> Signer:
    """The signer key stored at ``path``; created (mode 0600, named ``name``) if absent.

    The stored key keeps the name it was created with, whatever ``name`` says later.
    """
    if not path.exists():
        seed = secrets.token_bytes(32)
        signer = Signer(name, seed)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return load_signer(path)  # another process created it first
        with os.fdopen(fd, "w") as handle:
            handle.write(signer._signer_key(seed) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return signer
    return load_signer(path)


def load_signer(path: Path) -> Signer:
    """Read a signer key file (see :func:`parse_signer`)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise DataDirectoryError(str(path.parent), f"cannot read {path.name}: {err}") from None
    try:
        return parse_signer(text)
    except InvalidInputError:
        raise DataDirectoryError(
            str(path.parent), f"{path.name} is not an Ed25519 signer key"
        ) from None


def parse_signer(text: str) -> Signer:
    """Parse ``PRIVATE+KEY+name+hash+base64(0x01 || seed)``; the error never quotes the key."""
    parts = text.strip().split("+", 4)  # base64 has '+' too
    problem = InvalidInputError("not an Ed25519 signer key PRIVATE+KEY+NAME+KEYID+BASE64")
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise problem
    try:
        key = base64.b64decode(parts[4], validate=True)
    except binascii.Error:
        raise problem from None
    if len(key) != 33 or key[0] != ED25519:
        raise problem
    signer = Signer(parts[2], key[1:])
    if parts[3] != f"{signer.verifier.key_id:08x}":
        raise problem
    return signer
