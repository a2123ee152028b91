"""The service's request and response documents (pydantic), as published in its OpenAPI spec."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    Tag,
    model_validator,
)

#: Largest feature magnitude accepted: keeps ``x * 2**20`` exact in a 64-bit integer.
MAX_FEATURE = 1e12
MAX_FEATURES = 4096
#: Deepest nesting of a request's metadata (the body around it adds at most four levels).
MAX_METADATA_DEPTH = 16
Feature = Annotated[float, Strict(), Field(allow_inf_nan=False, ge=-MAX_FEATURE, le=MAX_FEATURE)]
FeatureList = Annotated[list[Feature], Field(min_length=1, max_length=MAX_FEATURES)]
FeatureMap = Annotated[
    dict[Annotated[str, Field(max_length=128)], Feature],
    Field(min_length=1, max_length=MAX_FEATURES),
]


def _unicode(text: str) -> str:
    text.encode()  # lone surrogates (valid JSON escapes, invalid text) raise: a 422
    return text


def _canonical(metadata: dict[str, Any] | None) -> dict[str, Any] | None:
    if metadata is not None:  # what metadata_hash hashes must exist: no NaN, valid text
        if (depth := _depth(metadata)) > MAX_METADATA_DEPTH:
            raise ValueError(f"metadata nests {depth} levels; at most {MAX_METADATA_DEPTH}")
        json.dumps(metadata, allow_nan=False, ensure_ascii=False).encode()
    return metadata


def _depth(value: Any) -> int:
    """How deep lists and objects nest in ``value`` (a dict counts 1), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in item)
    return deepest


RequestId = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_unicode)]
#: One raw value of a record: text (categories, dates, booleans), a number, true/false, null.
RawValue = (
    Annotated[bool, Strict()]
    | Annotated[int, Strict(), Field(ge=-(2**63), le=2**63)]
    | Annotated[float, Strict(), Field(allow_inf_nan=False)]
    | Annotated[str, Field(max_length=1024), AfterValidator(_unicode)]
    | None
)
RawRecord = Annotated[
    dict[Annotated[str, Field(max_length=128), AfterValidator(_unicode)], RawValue],
    Field(min_length=1, max_length=MAX_FEATURES),
]
Hex32 = Annotated[str, Field(pattern=r"^0x[0-9a-f]{64}$")]


def _feature_shape(value: Any) -> str:
    return "object" if isinstance(value, dict) else "list"


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScoreRequest(_Document):
    """One record to score: your raw columns (``record``), or the model's encoded ``features``."""

    request_id: RequestId | None = Field(
        default=None,
        description="Your id for this request, unique in the log (generated when absent). "
        "`0x` + 64 hex digits is used as is, anything else is hashed with SHA-256.",
    )
    features: (
        Annotated[
            Annotated[FeatureList, Tag("list")] | Annotated[FeatureMap, Tag("object")],
            Discriminator(_feature_shape),
        ]
        | None
    ) = Field(
        default=None,
        description="The model's encoded features in its order, or an object naming each of "
        "them (instead of `record`).",
    )
    record: RawRecord | None = Field(
        default=None,
        description="Your record as it is: column name -> raw value (text for categories, "
        "null for a blank). The model's schema encodes it; the log keeps the encoded features "
        "and, in `metadata_hash`, SHA-256 of canonical JSON of "
        '`{"metadata": metadata, "record": record}` (instead of `features`).',
    )
    metadata: Annotated[dict[str, Any] | None, AfterValidator(_canonical)] = Field(
        default=None,
        description="Anything else; only its SHA-256 (of canonical JSON) is logged.",
    )

    @model_validator(mode="after")
    def _one_input(self) -> ScoreRequest:
        if (self.features is None) == (self.record is None):
            raise ValueError("send exactly one of `record` (raw columns) or `features`")
        return self


class BatchRequest(_Document):
    """Many records, scored and logged together (all or nothing)."""

    records: list[ScoreRequest] = Field(min_length=1)


class ScoreResult(_Document):
    """The decision on one record, as logged."""

    request_id: str = Field(description="The request id given (or generated).")
    request_hash: Hex32 = Field(description="The 32-byte request id the log holds.")
    log_index: int = Field(description="The decision's index in the log.")
    score: float = Field(description="Probability of the positive class (e.g. fraud).")
    logit: float = Field(description="The model's raw score; decided against its threshold.")
    label: int = Field(description="1 when the logit reaches the threshold, else 0.")
    decision: str = Field(description="The label in the model card's words (e.g. hold/pass).")


class ScoreResponse(ScoreResult):
    """``POST /v1/score``: the decision and the model that made it."""

    model_id: Hex32
    timestamp_ms: int


class BatchResponse(_Document):
    """``POST /v1/score/batch``: one result per record, in order."""

    model_id: Hex32
    timestamp_ms: int
    results: list[ScoreResult]


class ReceiptResponse(_Document):
    """A decision's receipt: ``anchored`` once a tree head covering it is on chain."""

    status: Literal["anchored", "pending"]
    leaf_index: int
    receipt: dict[str, Any] = Field(description="A chainml.receipt/1 document (docs/receipts.md).")
    proof: Literal["pending", "running", "done", "failed"] | None = Field(
        default=None,
        description="The zk proof job's status (docs/zk.md): none asked for (null), or "
        "`GET /v1/decisions/{request_id}/proof` has it.",
    )


class ProofJobResponse(_Document):
    """A decision's zk proof job; ``receipt`` is its ``chainml.receipt/2`` once ``done``."""

    request_id: str
    status: Literal["pending", "running", "done", "failed"]
    leaf_index: int
    model_id: Hex32
    submitted: float = Field(description="Unix time the job was accepted.")
    started: float | None = Field(description="Unix time proving started.")
    finished: float | None = Field(description="Unix time proving ended.")
    error: str | None = Field(description="Why proving failed (status `failed`).")
    receipt: dict[str, Any] | None = Field(
        description="The chainml.receipt/2 with its `zk` attachment (status `done`)."
    )


class AnchorInfo(_Document):
    """The latest tree head anchored on chain."""

    size: int
    root: Hex32
    chain_id: int
    contract: str
    tx_hash: Hex32
    block_number: int


class HeadResponse(_Document):
    """The log's current tree head and what of it is anchored."""

    size: int
    root: Hex32
    anchored_size: int
    pending: int
    anchor: AnchorInfo | None


class ConsistencyResponse(_Document):
    """An RFC 9162 consistency proof between two tree heads of the log."""

    first: int
    second: int
    first_root: Hex32
    second_root: Hex32
    proof: list[Hex32]


class ModelSummary(_Document):
    """A stored model, as its card describes it."""

    model_id: Hex32
    kind: str
    dataset: str
    pr_auc: float | None
    serving: bool


class ModelsResponse(_Document):
    """The stored models and the one serving now."""

    use: str
    serving: Hex32 | None
    models: list[ModelSummary]


class ModelResponse(_Document):
    """One stored model: its card, and the registry's entry when there is a chain registry."""

    model_id: Hex32
    serving: bool
    card: dict[str, Any]
    registry: dict[str, Any] | None


class Problem(_Document):
    """An error: ``detail`` says what went wrong."""

    detail: str | list[dict[str, Any]]
