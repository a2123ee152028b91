"""``chainml.DecisionLog`` and ``chainml.verify_receipt``: log and prove decisions, check receipts.

:class:`DecisionLog` is the log of one data directory (``chainml log ...``): ``append`` scores
records with a :class:`~chainml.Model` exactly as the service does (raw records encoded by the
model's schema, features quantized to the model's inputs, the integer model of record, its
integer threshold) and logs the decisions in one durable batch; ``anchor`` puts the tree head
on chain; ``prove`` writes a receipt.
:func:`verify_receipt` is ``chainml log verify``: relative to logs the *caller* trusts, never
to one the receipt names, and failing closed with :class:`~chainml.errors.VerificationError`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chainml._closing import Closing
from chainml.errors import InvalidInputError
from chainml.log.decision_log import Decision, TreeHead
from chainml.log.decision_log import DecisionLog as CoreLog
from chainml.log.record import DecisionRecord, request_id_from

if TYPE_CHECKING:
    from chainml.api.model import Model
    from chainml.chain import Env
    from chainml.log.receipt import ReceiptCheck
    from chainml.log.store import AnchorRecord
    from chainml.log.trust import TrustRoot

#: A record to score: a raw row (column -> raw value), or the model's encoded features in order.
Record = Mapping[str, Any] | Sequence[float]


class DecisionLog(Closing):
    """The decision log kept in the data directory ``path`` (created on first use)."""

    def __init__(self, path: Path | str, *, durability: str = "full") -> None:
        self.path = Path(path)
        self.log = CoreLog.open(self.path, durability=durability)

    def append(
        self,
        model: Model,
        records: Sequence[Record],
        *,
        request_ids: Sequence[str] | None = None,
        metadata: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> list[DecisionRecord]:
        """Score ``records`` with ``model`` and log the decisions as one durable batch.

        A record is your raw row — column name -> raw value, encoded by the model's schema
        (for a model without one: its feature names -> numbers) — or a sequence of the
        model's encoded features in its order. ``request_ids`` (your ids, unique in the log;
        generated when absent) and ``metadata`` run parallel to ``records``. The log keeps the
        encoded integer features and, in ``metadata_hash``, SHA-256 of the raw record with its
        metadata (``chainml.service.scoring.record_hash``; just the metadata's for encoded
        features). A record that does not fit the model is an InvalidInputError naming it,
        and then nothing is logged.
        """
        from chainml.service.scoring import ServingModel, metadata_hash, record_hash

        texts = list(request_ids) if request_ids is not None else [
            uuid.uuid4().hex for _ in records
        ]  # fmt: skip
        extras = list(metadata) if metadata is not None else [None] * len(records)
        if not len(texts) == len(extras) == len(records):
            raise InvalidInputError(
                f"{len(records)} records, {len(texts)} request ids and {len(extras)} metadata: "
                "they must run parallel"
            )
        if not records:
            return []
        raw = [r for r in records if isinstance(r, Mapping)]
        serving = ServingModel(model.artifact)
        if len(raw) == len(records):
            scored = serving.score(serving.raw_rows(raw, "records"))
            hashes = [record_hash(r, m) for r, m in zip(raw, extras, strict=True)]
        elif not raw:
            encoded = [r for r in records if not isinstance(r, Mapping)]
            scored = serving.score(serving.rows(encoded, "records"))
            hashes = [metadata_hash(m) for m in extras]
        else:
            raise InvalidInputError("records are all raw (mappings) or all encoded (sequences)")
        decisions = [
            Decision(
                model_id=serving.model_id_bytes,
                score=score,
                label=label,
                request_id=request_id_from(text),
                features=tuple(int(v) for v in row),
                metadata_hash=digest,
            )
            for text, digest, score, label, row in zip(
                texts, hashes, scored.fixed_scores, scored.labels,
                scored.fixed_features.tolist(), strict=True,
            )
        ]  # fmt: skip
        return self.log.append(decisions)

    def head(self) -> TreeHead:
        """The current tree head (size and root)."""
        return self.log.head()

    def record(self, index: int) -> DecisionRecord:
        """The decision at ``index``."""
        return self.log.record(index)

    def anchor(self, env: Env, *, confirmations: int | None = None) -> AnchorRecord | None:
        """Anchor the current head on ``env``'s chain (deploying the log contract on first use).

        Returns the anchor, or None when the chain already holds this head.
        """
        from chainml.log.anchor import Anchorer, log_contract

        anchorer = Anchorer(self.log, log_contract(env, self.log), confirmations=confirmations)
        return anchorer.anchor()

    def trust_root(self, env: Env) -> str:
        """What verifiers pin for this log on ``env``'s chain: ``CHAIN_ID:ADDRESS:CODEHASH``."""
        from chainml.log.trust import log_identity

        return log_identity(env, self.log).trust_root

    def prove(self, index: int | None = None, *, request_id: str | None = None) -> dict[str, Any]:
        """The receipt (a ``chainml.receipt/1`` document) of one decision, by index or request id.

        It is pending (``anchor`` is None) until a head covering the decision is anchored.
        """
        from chainml.log.receipt import build_receipt

        if (index is None) == (request_id is None):
            raise InvalidInputError("give exactly one of index or request_id")
        if index is None:
            index = self.log.index_of(request_id_from(str(request_id)))
        return build_receipt(self.log, index)

    def close(self) -> None:
        """Close the log's store."""
        self.log.close()


def verify_receipt(
    receipt: Mapping[str, Any] | str | Path,
    *,
    trusted_logs: Sequence[str | TrustRoot],
    rpc: str | None = None,
    env: Env | None = None,
    approved_for: str | None = None,
    registry: str | TrustRoot | None = None,
) -> ReceiptCheck:
    """Verify a receipt against the logs you trust; raise VerificationError when it is not valid.

    ``receipt`` is the document, or the path of its file. ``trusted_logs`` are the logs you
    pinned (``[CHAIN_ID:]ADDRESS[:CODEHASH]``, as ``chainml log identity`` publishes them).
    The chain is asked through ``env``, else the node at ``rpc``, else the chain the settings
    name. With ``approved_for=USE`` and the ``registry`` you trust, the record's model must
    also have been the approved one for that use at the anchor's block.
    """
    from chainml.chain import connect
    from chainml.config import load_settings
    from chainml.log.approval import check_approved
    from chainml.log.receipt import check_receipt, trusted_log_of
    from chainml.log.receipt import verify_receipt as verify_on_chain
    from chainml.log.receipt_format import read_receipt
    from chainml.log.trust import parse_trust_root

    roots = [parse_trust_root(r) if isinstance(r, str) else r for r in trusted_logs]
    approval: TrustRoot | None = None
    if approved_for is not None:
        if registry is None:
            raise InvalidInputError("approved_for needs the registry you trust")
        approval = parse_trust_root(registry, "registry") if isinstance(registry, str) else registry
    document: object = read_receipt(Path(receipt)) if isinstance(receipt, str | Path) else receipt
    trusted_log_of(check_receipt(document), roots)  # refused before any node is asked
    with ExitStack() as stack:
        if env is None:
            env = stack.enter_context(connect(load_settings().with_overrides(rpc=rpc)))
        check = verify_on_chain(document, env, trusted=roots)
        if approved_for is not None and approval is not None:
            check_approved(env, check, approval, approved_for)
    return check
