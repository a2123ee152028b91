"""A deployed contract: typed calls and transactions checked against its ABI, and its events."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chainml.chain.abi import Event, Function
from chainml.chain.backend import LogFilter, Receipt
from chainml.errors import InvalidInputError

if TYPE_CHECKING:
    from chainml.chain.env import Env


class Contract:
    """A handle on a contract at ``address``: ``c.fn(...)`` calls views, transacts the rest.

    ``c.call("fn", ...)`` and ``c.transact("fn", ...)`` choose explicitly. Arguments are
    checked against the ABI before anything is sent.
    """

    def __init__(
        self,
        env: Env,
        address: str,
        abi: list[dict[str, Any]],
        name: str,
        deployment: Receipt | None = None,
    ) -> None:
        self.env = env
        self.address = address
        self.abi = abi
        self.name = name
        #: the receipt of the deploying transaction, when this handle came from a deploy
        self.deployment = deployment
        self._functions: dict[str, list[Function]] = {}
        self._events: dict[str, Event] = {}
        for item in abi:
            if item.get("type") == "function":
                fn = Function.from_abi(item)
                self._functions.setdefault(fn.name, []).append(fn)
            elif item.get("type") == "event":
                event = Event.from_abi(item)
                self._events[event.name] = event

    def function(self, name: str, arg_count: int) -> Function:
        """The ABI function ``name`` taking ``arg_count`` arguments (Vyper overloads by arity)."""
        candidates = self._functions.get(name)
        if not candidates:
            known = ", ".join(sorted(self._functions)) or "none"
            raise InvalidInputError(f"{self.name} has no function {name!r} (it has: {known})")
        for fn in candidates:
            if len(fn.input_types) == arg_count:
                return fn
        if len(candidates) == 1:
            return candidates[0]  # let encode_arguments report the count mismatch
        shapes = ", ".join(fn.signature for fn in candidates)
        raise InvalidInputError(f"no {name} takes {arg_count} argument(s); there is {shapes}")

    def call(
        self, name: str, *args: Any, sender: str | None = None, block: int | None = None
    ) -> Any:
        """Execute ``name`` without a transaction and decode its result."""
        fn = self.function(name, len(args))
        data = self.env.call(self.address, fn.encode_call(args), sender=sender, block=block)
        return fn.decode_result(data)

    def transact(
        self,
        name: str,
        *args: Any,
        value: int = 0,
        gas: int | None = None,
        sender: str | None = None,
    ) -> Receipt:
        """Send a transaction calling ``name``; returns its receipt (raises on revert)."""
        fn = self.function(name, len(args))
        if value and fn.mutability != "payable":
            raise InvalidInputError(f"{fn.signature} is not payable; cannot send {value} wei")
        return self.env.transact(
            self.address, fn.encode_call(args), value=value, gas=gas, sender=sender
        )

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_") or name not in self.__dict__.get("_functions", {}):
            raise AttributeError(name)

        def invoke(*args: Any, **kwargs: Any) -> Any:
            if self.function(name, len(args)).is_read_only:
                return self.call(name, *args, **kwargs)
            return self.transact(name, *args, **kwargs)

        invoke.__name__ = name
        return invoke

    def event(self, name: str) -> Event:
        """The ABI event ``name``."""
        try:
            return self._events[name]
        except KeyError:
            known = ", ".join(sorted(self._events)) or "none"
            raise InvalidInputError(
                f"{self.name} has no event {name!r} (it has: {known})"
            ) from None

    def events(
        self, event_name: str, /, from_block: int = 0, to_block: int | None = None, **indexed: Any
    ) -> list[dict[str, Any]]:
        """Decoded ``event_name`` events emitted by this contract, filtered by indexed args."""
        event = self.event(event_name)
        topics: list[tuple[bytes, ...] | None] = [(event.topic,)]
        positions = [arg for arg, _, is_indexed in event.inputs if is_indexed]
        for arg in indexed:
            if arg not in positions:
                event.topic_for(arg, None)  # raises the right error for a bad name
        for arg in positions:
            topics.append((event.topic_for(arg, indexed[arg]),) if arg in indexed else None)
        while topics and topics[-1] is None:
            topics.pop()
        logs = self.env.logs(
            LogFilter(
                addresses=(self.address,),
                topics=tuple(topics),
                from_block=from_block,
                to_block=to_block,
            )
        )
        return [
            event.decode(log) | {"_block": log.block_number, "_tx": log.tx_hash} for log in logs
        ]

    def decode_receipt(self, receipt: Receipt, name: str) -> list[dict[str, Any]]:
        """The ``name`` events this contract emitted in ``receipt``."""
        event = self.event(name)
        return [
            event.decode(log)
            for log in receipt.logs
            if log.address == self.address and log.topics[:1] == (event.topic,)
        ]

    def __repr__(self) -> str:
        return f"<{self.name} at {self.address}>"
