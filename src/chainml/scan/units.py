"""The unit a scan scores: one function (or modifier, or a contract's state declarations)."""

from __future__ import annotations

from dataclasses import dataclass, field

#: Feature names, in the order of the model's vector. Counts unless named ``is_``/``has_``.
FEATURES: tuple[str, ...] = (
    "statements",
    "is_public",
    "is_payable",
    "is_constructor",
    "is_fallback",
    "has_modifier",
    "has_sender_check",
    "has_owner_modifier",
    "misnamed_constructor",
    "state_writes",
    "state_writes_address",
    "state_writes_indexed",
    "ll_call",
    "ll_call_value",
    "send",
    "transfer",
    "unchecked_ll",
    "unchecked_send",
    "ext_call",
    "call_before_write",
    "value_call_before_write",
    "checked_call_before_write",
    "value_call_to_sender",
    "delegatecall",
    "delegatecall_input",
    "selfdestruct",
    "tx_origin",
    "tx_origin_check",
    "msg_sender",
    "msg_value",
    "timestamp",
    "timestamp_check",
    "block_number",
    "blockhash",
    "block_other",
    "hash_of_block",
    "block_modulo",
    "arith",
    "arith_state",
    "arith_unchecked",
    "safemath",
    "loops",
    "loop_dynamic",
    "call_in_loop",
    "array_push",
    "length_write",
    "hash_compare",
    "balance_this",
    "require",
    "throw_revert",
    "returns_value",
    "inline_assembly",
    "solc_lt_05",
    "solc_ge_08",
    "vyper",
    "op_call",
    "op_sstore",
    "op_jumpi",
    "op_call_before_sstore",
)


@dataclass
class Unit:
    """One scored unit with its features and where it is in the source."""

    source: str
    contract: str
    function: str
    first_line: int
    last_line: int
    features: dict[str, float] = field(default_factory=dict)

    def vector(self) -> list[float]:
        """The features in :data:`FEATURES` order (missing ones are 0)."""
        return [float(self.features.get(name, 0.0)) for name in FEATURES]

    def add(self, name: str, amount: float = 1.0) -> None:
        """Count ``amount`` more of feature ``name``."""
        if name not in FEATURES:
            raise KeyError(name)
        self.features[name] = self.features.get(name, 0.0) + amount
