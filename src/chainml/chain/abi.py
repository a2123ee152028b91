"""Contract ABIs: function selectors, argument encoding with clear errors, event decoding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi import decode, encode
from eth_abi.exceptions import DecodingError, EncodingError
from eth_utils import keccak, to_checksum_address

from chainml.chain.backend import Log
from chainml.errors import InvalidInputError


def canonical_type(param: dict[str, Any]) -> str:
    """The ABI type string of a parameter, expanding tuples into ``(t1,t2,...)``."""
    kind = str(param["type"])
    if kind.startswith("tuple"):
        inner = ",".join(canonical_type(c) for c in param["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


@dataclass(frozen=True)
class Function:
    """One function of a contract ABI."""

    name: str
    input_types: tuple[str, ...]
    output_types: tuple[str, ...]
    mutability: str

    @classmethod
    def from_abi(cls, item: dict[str, Any]) -> Function:
        """Build from an ABI entry of type ``function`` (or ``constructor``)."""
        return cls(
            name=str(item.get("name", "constructor")),
            input_types=tuple(canonical_type(p) for p in item.get("inputs", [])),
            output_types=tuple(canonical_type(p) for p in item.get("outputs", [])),
            mutability=str(item.get("stateMutability", "nonpayable")),
        )

    @property
    def signature(self) -> str:
        """``name(type1,type2)``."""
        return f"{self.name}({','.join(self.input_types)})"

    @property
    def selector(self) -> bytes:
        """The first four bytes of the keccak of the signature."""
        return bytes(keccak(text=self.signature))[:4]

    @property
    def is_read_only(self) -> bool:
        """True for ``view`` and ``pure`` functions, which are called, not transacted."""
        return self.mutability in ("view", "pure")

    def encode_arguments(self, args: tuple[Any, ...]) -> bytes:
        """ABI-encode ``args``; a wrong count or type is an InvalidInputError."""
        if len(args) != len(self.input_types):
            raise InvalidInputError(
                f"{self.signature} takes {len(self.input_types)} argument(s), got {len(args)}"
            )
        try:
            return bytes(encode(list(self.input_types), list(args)))
        except (EncodingError, TypeError, ValueError, OverflowError) as err:
            raise InvalidInputError(f"bad arguments for {self.signature}: {err}") from err

    def encode_call(self, args: tuple[Any, ...]) -> bytes:
        """Selector plus encoded arguments."""
        return self.selector + self.encode_arguments(args)

    def decode_result(self, data: bytes) -> Any:
        """Decode return data: one value unwrapped, several as a tuple, none as None."""
        if not self.output_types:
            return None
        try:
            values = tuple(_normalize(v) for v in decode(list(self.output_types), data))
        except DecodingError as err:
            raise InvalidInputError(
                f"the return data of {self.signature} does not decode as "
                f"({','.join(self.output_types)}): is this the right contract?"
            ) from err
        return values[0] if len(values) == 1 else values


@dataclass(frozen=True)
class Event:
    """One event type of a contract ABI."""

    name: str
    inputs: tuple[tuple[str, str, bool], ...]  # (name, type, indexed)

    @classmethod
    def from_abi(cls, item: dict[str, Any]) -> Event:
        """Build from an ABI entry of type ``event``."""
        return cls(
            name=str(item["name"]),
            inputs=tuple(
                (str(p["name"]), canonical_type(p), bool(p.get("indexed"))) for p in item["inputs"]
            ),
        )

    @property
    def topic(self) -> bytes:
        """topic0: the keccak of the event signature."""
        signature = f"{self.name}({','.join(t for _, t, _ in self.inputs)})"
        return bytes(keccak(text=signature))

    def topic_for(self, name: str, value: Any) -> bytes:
        """The topic an indexed argument ``name`` has when it equals ``value``."""
        for arg, kind, indexed in self.inputs:
            if arg == name:
                if not indexed:
                    raise InvalidInputError(f"{self.name}.{name} is not indexed; cannot filter")
                # An indexed string or bytes value is stored as the keccak of its raw bytes.
                if kind == "string":
                    return bytes(keccak(text=value))
                if kind == "bytes":
                    return bytes(keccak(value))
                if _is_dynamic(kind):
                    raise InvalidInputError(
                        f"filtering on indexed {kind} values is not supported ({self.name}.{name})"
                    )
                try:
                    return bytes(encode([kind], [value]))
                except (EncodingError, TypeError, ValueError, OverflowError) as err:
                    message = f"bad filter value for {self.name}.{name}: {err}"
                    raise InvalidInputError(message) from err
        raise InvalidInputError(f"event {self.name} has no argument {name!r}")

    def decode(self, log: Log) -> dict[str, Any]:
        """Decode a log of this event into a name -> value mapping."""
        indexed = [(n, t) for n, t, i in self.inputs if i]
        plain = [(n, t) for n, t, i in self.inputs if not i]
        if len(log.topics) != len(indexed) + 1 or log.topics[:1] != (self.topic,):
            raise InvalidInputError(
                f"a log with {len(log.topics)} topic(s) is not a {self.name} event "
                f"(expected {len(indexed) + 1}, the first being its signature hash)"
            )
        values: dict[str, Any] = {}
        try:
            for (name, kind), topic in zip(indexed, log.topics[1:], strict=True):
                # dynamic types are stored as their hash: only the hash can be returned
                values[name] = topic if _is_dynamic(kind) else _normalize(decode([kind], topic)[0])
            decoded = decode([t for _, t in plain], log.data)
        except DecodingError as err:
            raise InvalidInputError(f"the log does not decode as {self.name}: {err}") from err
        for (name, _), value in zip(plain, decoded, strict=True):
            values[name] = _normalize(value)
        return values


def _is_dynamic(kind: str) -> bool:
    return kind in ("string", "bytes") or kind.endswith("]") or kind.startswith("(")


def _normalize(value: Any) -> Any:
    """Checksum addresses and turn nested sequences into tuples."""
    if isinstance(value, str) and len(value) == 42 and value.startswith("0x"):
        return to_checksum_address(value)
    if isinstance(value, list | tuple):
        return tuple(_normalize(v) for v in value)
    return value
