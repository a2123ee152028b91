"""C2SP tlog-checkpoints: the signed statement "log <origin> has <size> leaves and <root>".

The body is three lines: the origin (which names the log), the tree size in decimal, and the
root hash in base64; it is signed as a C2SP signed note (:mod:`chainml.log.note`) with the
operator's Ed25519 key. The key lives in the data directory (``log_note.key``, mode 0600) and
its name is the origin. The origin is fixed when the key is created: ``chainml/<chain
id>/<DecisionLog address>`` of the log's latest anchor, or ``chainml/unanchored/<random id>``
if nothing was anchored yet; it never changes afterwards, so witnesses can follow one log.
See https://c2sp.org/tlog-checkpoint.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass
from pathlib import Path

from chainml.errors import InvalidInputError, VerificationError
from chainml.log import merkle
from chainml.log.note import NoteVerificationError, Signer, Verifier, load_or_create_signer
from chainml.log.note import open_note as _open_note
from chainml.log.store import LogStore

KEY_FILE = "log_note.key"


@dataclass(frozen=True)
class Checkpoint:
    """A tree head ``(size, root)`` of the log named ``origin``."""

    origin: str
    size: int
    root: bytes

    @property
    def body(self) -> str:
        """The checkpoint text: origin, size and base64 root, one per line."""
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    def sign(self, signer: Signer) -> bytes:
        """The checkpoint as a signed note."""
        return signer.sign(self.body).encode()


class SplitViewError(VerificationError):
    """Two checkpoints signed by the same key disagree: the log shows different trees."""

    def __init__(self, earlier: Checkpoint, later: Checkpoint, detail: str) -> None:
        self.earlier = earlier
        self.later = later
        super().__init__(
            f"split view of {earlier.origin}: {detail} (accepted size {earlier.size} root "
            f"{earlier.root.hex()}, now size {later.size} root {later.root.hex()})"
        )


def parse_body(text: str) -> Checkpoint:
    """The checkpoint of a verified note's text (extension lines after the root are allowed)."""
    lines = text.split("\n")
    if len(lines) < 4 or not lines[1].isdigit() or len(lines[1]) > 20:
        raise NoteVerificationError("the note is not a checkpoint (origin, size, root)")
    try:
        root = base64.b64decode(lines[2], validate=True)
    except binascii.Error:
        root = b""
    if len(root) != merkle.HASH_SIZE or not lines[0]:
        raise NoteVerificationError("the checkpoint's origin or root hash is malformed")
    return Checkpoint(lines[0], int(lines[1]), root)


def open_checkpoint(data: bytes, verifier: Verifier) -> Checkpoint:
    """Verify the signed checkpoint ``data`` with ``verifier``; its origin must be the key name.

    Raises :class:`NoteVerificationError` (exit 3) for anything else.
    """
    checkpoint = parse_body(_open_note(data, verifier))
    if checkpoint.origin != verifier.name:
        raise NoteVerificationError(
            f"checkpoint origin {checkpoint.origin!r} is not the key's log {verifier.name!r}"
        )
    return checkpoint


def operator_signer(data_dir: Path, store: LogStore) -> Signer:
    """The operator's checkpoint key in ``data_dir``, created on first use (see module doc)."""
    path = data_dir / KEY_FILE
    if path.exists():
        return load_or_create_signer(path, "unused")  # the stored key keeps its own name
    if store.read_only:
        raise InvalidInputError(f"{data_dir} has no checkpoint key ({KEY_FILE}) and is read-only")
    anchor = store.latest_anchor()
    origin = (
        f"chainml/{anchor.chain_id}/{anchor.contract}"
        if anchor is not None
        else f"chainml/unanchored/{secrets.token_hex(8)}"
    )
    return load_or_create_signer(path, origin)


def published_verifier(data_dir: Path, store: LogStore) -> Verifier | None:
    """The verifier key of the operator's checkpoints; None for a read-only copy without one."""
    if store.read_only and not (data_dir / KEY_FILE).exists():
        return None
    return operator_signer(data_dir, store).verifier
