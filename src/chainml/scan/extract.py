"""From compiler output to scored units: the ASTs walked, the bytecode attributed to functions."""

from __future__ import annotations

from collections.abc import Mapping

from chainml.scan.opcodes import attribute
from chainml.scan.solc import SolcOutput
from chainml.scan.solidity_features import Node, src_range, units_of, walk
from chainml.scan.units import Unit


def solidity_units(output: SolcOutput, only: set[str] | None = None) -> list[Unit]:
    """The units of every source of one compilation (or of the sources named in ``only``)."""
    declarations: dict[int, Node] = {}
    for ast in output.asts.values():
        for node in walk(ast):
            if node.get("nodeType") == "VariableDeclaration" and "id" in node:
                declarations[int(node["id"])] = node
    found: list[Unit] = []
    for name, ast in output.asts.items():
        if only is not None and name not in only:
            continue
        source = output.job.sources.get(name, b"")
        units = units_of(name, ast, source, output.job.version, declarations)
        _attribute_opcodes(units, ast, output.runtime, name)
        found.extend(units)
    return found


def _attribute_opcodes(
    units: list[Unit], ast: Node, runtime: Mapping[tuple[str, str], tuple[bytes, str]], name: str
) -> None:
    file_index = src_range(ast)[2]
    spans_by_name: dict[str, dict[str, tuple[int, int]]] = {}
    for contract in ast.get("nodes", []):
        if contract.get("nodeType") != "ContractDefinition":
            continue
        spans = spans_by_name.setdefault(str(contract.get("name")), {})
        for member in contract.get("nodes", []):
            if member.get("nodeType") in ("FunctionDefinition", "ModifierDefinition"):
                start, length, _ = src_range(member)
                spans[f"{start}"] = (start, length)
    for contract, spans in spans_by_name.items():
        code, srcmap = runtime.get((name, contract), (b"", ""))
        mine = [u for u in units if u.contract == contract and u.function != "(state)"]
        if not code or len(mine) != len(spans):
            continue
        attribute(mine, list(spans.values()), code, srcmap, file_index)
