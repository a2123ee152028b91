"""EVM bytecode: instructions, solc source maps, and the opcode features they give a function."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from chainml.scan.units import Unit

_CALLS = {0xF1: "CALL", 0xF2: "CALLCODE", 0xF4: "DELEGATECALL", 0xFA: "STATICCALL"}
_SSTORE, _JUMPI = 0x55, 0x57
_NAMED = {
    0x32: "ORIGIN",
    0x42: "TIMESTAMP",
    0x43: "NUMBER",
    0x40: "BLOCKHASH",
    0xFF: "SELFDESTRUCT",
}


def instructions(code: bytes) -> list[int]:
    """The opcodes of ``code`` in order, push data skipped."""
    ops: list[int] = []
    i = 0
    while i < len(code):
        op = code[i]
        ops.append(op)
        i += 1 + (op - 0x5F if 0x60 <= op <= 0x7F else 0)
    return ops


def source_map(text: str) -> list[tuple[int, int, int]]:
    """Solc's compressed source map as ``(start, length, file index)`` per instruction."""
    entries: list[tuple[int, int, int]] = []
    last = [0, 0, -1]
    for item in text.split(";") if text else []:
        fields = item.split(":")
        for k in range(3):
            if k < len(fields) and fields[k] != "":
                last[k] = int(fields[k])
        entries.append((last[0], last[1], last[2]))
    return entries


def attribute(
    units: Sequence[Unit],
    spans: Sequence[tuple[int, int]],
    code: bytes,
    srcmap: str,
    file_index: int,
) -> None:
    """Count each function's CALLs, SSTOREs and JUMPIs: instructions mapped inside its span."""
    order = sorted(range(len(units)), key=lambda k: spans[k][0])
    starts = [spans[k][0] for k in order]
    seen_call = [False] * len(units)
    for op, (start, length, index) in zip(instructions(code), source_map(srcmap), strict=False):
        if index != file_index or (op not in (_SSTORE, _JUMPI) and op not in _CALLS):
            continue
        pos = bisect.bisect_right(starts, start) - 1
        if pos < 0:
            continue
        k = order[pos]
        if start + length > spans[k][0] + spans[k][1]:
            continue
        unit = units[k]
        if op in _CALLS:
            unit.add("op_call")
            seen_call[k] = True
        elif op == _SSTORE:
            unit.add("op_sstore")
            if seen_call[k]:
                unit.add("op_call_before_sstore")
        else:
            unit.add("op_jumpi")


def bytecode_unit(code: bytes, name: str) -> Unit:
    """A whole deployed contract as one unit, for a scan of an address (no source, no AST)."""
    unit = Unit(name, name, "(bytecode)", 0, 0)
    unit.features["is_public"] = 1.0
    seen_call = False
    for op in instructions(code):
        if op in _CALLS:
            unit.add("op_call")
            unit.add("ll_call")
            seen_call = True
            if _CALLS[op] in ("DELEGATECALL", "CALLCODE"):
                unit.add("delegatecall")
        elif op == _SSTORE:
            unit.add("op_sstore")
            unit.add("state_writes")
            if seen_call:
                unit.add("op_call_before_sstore")
                unit.add("call_before_write")
        elif op == _JUMPI:
            unit.add("op_jumpi")
        elif op in _NAMED:
            feature = {
                "ORIGIN": "tx_origin",
                "TIMESTAMP": "timestamp",
                "NUMBER": "block_number",
                "BLOCKHASH": "blockhash",
                "SELFDESTRUCT": "selfdestruct",
            }[_NAMED[op]]
            unit.add(feature)
    return unit
