"""Per-function features from a Solidity compact AST (solc 0.4.12 and later).

The walk follows source order, so "an external call before a storage write" means what it
says in the function's text. Only what the compiler parsed is read; comments never reach here.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping
from typing import Any

from chainml.scan.units import Unit
from chainml.scan.versions import Version

Node = dict[str, Any]

_LOW_LEVEL = {"call", "callcode", "delegatecall"}
_NOT_EXTERNAL = _LOW_LEVEL | {
    "send",
    "transfer",
    "value",
    "gas",
    "balance",
    "staticcall",
    "push",
    "pop",
}
_SAFE_MATH = {"add", "sub", "mul", "div", "tryAdd", "trySub", "tryMul"}
_HASHES = {"keccak256", "sha3", "sha256", "ripemd160"}
_BLOCK_OTHER = {"coinbase", "difficulty", "gaslimit", "prevrandao"}


class LineIndex:
    """Byte offsets to 1-based line numbers of one source."""

    def __init__(self, source: bytes) -> None:
        self._starts = [0] + [i + 1 for i, b in enumerate(source) if b == 0x0A]

    def line(self, offset: int) -> int:
        """The line holding byte ``offset``."""
        return bisect.bisect_right(self._starts, offset)


def src_range(node: Node) -> tuple[int, int, int]:
    """``(start, length, file index)`` of a node's ``src``."""
    start, length, index = (int(p) for p in str(node.get("src", "0:0:-1")).split(":")[:3])
    return start, length, index


def children(node: Node) -> list[Node]:
    """The node's AST children in source order."""
    found: list[Node] = []
    for key, value in node.items():
        if key in ("typeDescriptions", "documentation"):
            continue
        if isinstance(value, dict) and "nodeType" in value:
            found.append(value)
        elif isinstance(value, list):
            found.extend(v for v in value if isinstance(v, dict) and "nodeType" in v)
    return sorted(found, key=lambda n: src_range(n)[0])


def walk(node: Node) -> Iterator[Node]:
    """Every node under ``node`` (itself included), in source order."""
    yield node
    for child in children(node):
        yield from walk(child)


def units_of(
    source_name: str, ast: Node, source: bytes, version: Version, declarations: Mapping[int, Node]
) -> list[Unit]:
    """The functions, modifiers and state declarations of every contract in one source."""
    lines = LineIndex(source)
    sender_modifiers = {
        n["id"]
        for n in walk(ast)
        if n.get("nodeType") == "ModifierDefinition" and _checks_sender(n)
    }
    found: list[Unit] = []
    for contract in ast.get("nodes", []):
        if contract.get("nodeType") != "ContractDefinition":
            continue
        state = _new_unit(source_name, contract, "(state)", contract, lines, version)
        for member in contract.get("nodes", []):
            kind = member.get("nodeType")
            if kind == "VariableDeclaration" and member.get("value") is not None:
                _Walker(state, declarations, version, set()).visit(member["value"])
            elif kind in ("FunctionDefinition", "ModifierDefinition"):
                name = _function_name(member)
                unit = _new_unit(source_name, contract, name, member, lines, version)
                _function_facts(unit, member, contract, sender_modifiers)
                _Walker(unit, declarations, version, _parameters(member)).visit(member.get("body"))
                found.append(unit)
        if state.features.get("statements", 0) or any(
            v for k, v in state.features.items() if k not in ("solc_lt_05", "solc_ge_08")
        ):
            found.append(state)
    return found


def _new_unit(
    source: str, contract: Node, name: str, node: Node, lines: LineIndex, version: Version
) -> Unit:
    start, length, _ = src_range(node)
    unit = Unit(
        source, str(contract.get("name", "")), name, lines.line(start), lines.line(start + length)
    )
    unit.features["solc_lt_05"] = float(version < (0, 5, 0))
    unit.features["solc_ge_08"] = float(version >= (0, 8, 0))
    return unit


def _function_name(node: Node) -> str:
    name = str(node.get("name", ""))
    kind = node.get("kind")
    if node.get("isConstructor") or kind == "constructor":
        return "constructor"
    if not name:
        return "fallback" if kind in (None, "fallback") else str(kind)
    return name


def _parameters(node: Node) -> set[int]:
    params = node.get("parameters", {}).get("parameters", [])
    return {int(p["id"]) for p in params if "id" in p}


def _function_facts(unit: Unit, node: Node, contract: Node, sender_modifiers: set[int]) -> None:
    is_modifier = node.get("nodeType") == "ModifierDefinition"
    visibility = node.get("visibility", "public")
    is_constructor = bool(node.get("isConstructor")) or node.get("kind") == "constructor"
    unit.features["is_public"] = float(not is_modifier and visibility in ("public", "external"))
    unit.features["is_payable"] = float(
        node.get("stateMutability") == "payable" or bool(node.get("payable"))
    )
    unit.features["is_constructor"] = float(is_constructor)
    unit.features["is_fallback"] = float(_function_name(node) in ("fallback", "receive"))
    invocations = [
        m
        for m in node.get("modifiers", [])
        if m.get("modifierName", {}).get("referencedDeclaration") is not None
    ]
    own = [m for m in invocations if m["modifierName"]["referencedDeclaration"] in sender_modifiers]
    unit.features["has_modifier"] = float(bool(invocations))
    unit.features["has_owner_modifier"] = float(bool(own))
    name = str(node.get("name", ""))
    unit.features["misnamed_constructor"] = float(
        not is_constructor and bool(name) and name.lower() == str(contract.get("name", "")).lower()
    )
    returns = node.get("returnParameters", {}).get("parameters", [])
    unit.features["returns_value"] = float(bool(returns))
    if is_modifier:
        unit.features["has_sender_check"] = float(_checks_sender(node))


def _checks_sender(node: Node) -> bool:
    for n in walk(node):
        comparison = n.get("nodeType") == "BinaryOperation" and n.get("operator") in ("==", "!=")
        if comparison and any(_is_member(x, "msg", "sender") for x in walk(n)):
            return True
    return False


def _is_member(node: Node, base: str, member: str) -> bool:
    return (
        node.get("nodeType") == "MemberAccess"
        and node.get("memberName") == member
        and node.get("expression", {}).get("nodeType") == "Identifier"
        and node["expression"].get("name") == base
    )


def _type(node: Node) -> str:
    return str((node.get("typeDescriptions") or {}).get("typeString") or "")


class _Walker:
    """One function body's walk: counts facts into its unit, in source order."""

    def __init__(
        self, unit: Unit, declarations: Mapping[int, Node], version: Version, params: set[int]
    ) -> None:
        self.unit = unit
        self.declarations = declarations
        self.checked = version >= (0, 8, 0)
        self.params = params
        self.seen_call = False
        self.seen_value_call = False
        self.seen_checked_value_call = False

    def visit(
        self, node: Node | None, cond: bool = False, loop: bool = False, unchecked: bool = False
    ) -> None:
        if not node:
            return
        kind = node.get("nodeType")
        add = self.unit.add
        if kind in (
            "ExpressionStatement",
            "Return",
            "EmitStatement",
            "VariableDeclarationStatement",
            "Throw",
        ):
            add("statements")
        if kind == "Throw":
            add("throw_revert")
        if kind == "InlineAssembly":
            add("inline_assembly")
        if kind in ("ForStatement", "WhileStatement", "DoWhileStatement"):
            add("loops")
            condition = node.get("condition")
            if condition and self._dynamic_bound(condition):
                add("loop_dynamic")
            for child in children(node):
                self.visit(child, cond=child is condition or cond, loop=True, unchecked=unchecked)
            return
        if kind == "IfStatement" or kind == "Conditional":
            self.visit(node.get("condition"), True, loop, unchecked)
            for key in ("trueBody", "falseBody", "trueExpression", "falseExpression"):
                self.visit(node.get(key), cond, loop, unchecked)
            return
        if kind == "UncheckedBlock":
            unchecked = True
        if (
            kind == "ExpressionStatement"
            and node.get("expression", {}).get("nodeType") == "FunctionCall"
        ):
            self._call(node["expression"], cond, loop, unchecked, statement=True)
            return
        if kind == "FunctionCall":
            self._call(node, cond, loop, unchecked, statement=False)
            return
        self._fact(node, cond, unchecked)
        for child in children(node):
            self.visit(child, cond, loop, unchecked)

    def _fact(self, node: Node, cond: bool, unchecked: bool) -> None:
        kind = node.get("nodeType")
        add = self.unit.add
        if kind == "Identifier":
            name = node.get("name")
            if name == "now":
                add("timestamp")
                add("timestamp_check", float(cond))
            elif name in ("selfdestruct", "suicide"):
                add("selfdestruct")
            elif name == "blockhash":
                add("blockhash")
            elif name == "require" or name == "assert":
                add("require")
            elif name == "revert":
                add("throw_revert")
        elif kind == "MemberAccess":
            if _is_member(node, "tx", "origin"):
                add("tx_origin")
                add("tx_origin_check", float(cond))
            elif _is_member(node, "msg", "sender"):
                add("msg_sender")
            elif _is_member(node, "msg", "value"):
                add("msg_value")
            elif _is_member(node, "block", "timestamp"):
                add("timestamp")
                add("timestamp_check", float(cond))
            elif _is_member(node, "block", "number"):
                add("block_number")
            elif _is_member(node, "block", "blockhash"):
                add("blockhash")
            elif (
                node.get("memberName") in _BLOCK_OTHER
                and node.get("expression", {}).get("name") == "block"
            ):
                add("block_other")
            elif node.get("memberName") == "balance" and self._is_this(node.get("expression", {})):
                add("balance_this")
        elif kind == "BinaryOperation":
            op = node.get("operator")
            if op in ("+", "-", "*", "**") and "int" in _type(node):
                self._arith(unchecked, state=False)
            if op == "%" and self._mentions_block(node):
                add("block_modulo")
            if op in ("==", "!=") and any(self._is_hash_call(n) for n in walk(node)):
                add("hash_compare")
            sides = (node.get("leftExpression", {}), node.get("rightExpression", {}))
            if op in ("==", "!=") and any(_is_member(x, "msg", "sender") for x in sides):
                add("has_sender_check")
        elif kind == "Assignment":
            op = node.get("operator")
            lhs = node.get("leftHandSide", {})
            state = self._write(lhs)
            if op in ("+=", "-=", "*=") and "int" in _type(lhs):
                self._arith(unchecked, state)
            elif state and any(
                n.get("nodeType") == "BinaryOperation" and n.get("operator") in ("+", "-", "*")
                for n in walk(node.get("rightHandSide", {}))
            ):
                self.unit.add("arith_state")
        elif kind == "UnaryOperation":
            op = node.get("operator")
            sub = node.get("subExpression", {})
            if op in ("++", "--", "delete"):
                state = self._write(sub)
                if op != "delete" and "int" in _type(sub):
                    self._arith(unchecked, state)

    def _arith(self, unchecked: bool, state: bool) -> None:
        self.unit.add("arith")
        if state:
            self.unit.add("arith_state")
        if unchecked or not self.checked:
            self.unit.add("arith_unchecked")

    def _call(self, node: Node, cond: bool, loop: bool, unchecked: bool, statement: bool) -> None:
        add = self.unit.add
        callee = node.get("expression", {})
        options = callee.get("names", []) if callee.get("nodeType") == "FunctionCallOptions" else []
        if callee.get("nodeType") == "FunctionCallOptions":
            callee = callee.get("expression", {})
        # old style: x.call.value(v)(data) is a call of a call of `value`
        inner = callee
        if inner.get("nodeType") == "FunctionCall":
            inner = inner.get("expression", {})
        member = inner.get("memberName") if inner.get("nodeType") == "MemberAccess" else None
        if (
            member in ("value", "gas")
            and inner.get("expression", {}).get("nodeType") == "MemberAccess"
        ):
            options = ["value"] if member == "value" else options
            inner = inner["expression"]
            member = inner.get("memberName")
        base_type = _type(inner.get("expression", {})) if member else ""
        is_address = base_type.startswith("address")
        external = False
        if member in _LOW_LEVEL and is_address:
            add("ll_call")
            external = True
            if "value" in options:
                add("ll_call_value")
                self.seen_value_call = True
                if not statement or cond:
                    self.seen_checked_value_call = True
                target = inner.get("expression", {})
                if _is_member(target, "msg", "sender"):
                    add("value_call_to_sender")
            if statement and not cond:
                add("unchecked_ll")
            if member == "delegatecall" or member == "callcode":
                add("delegatecall")
                if any(
                    _is_member(n, "msg", "data") or n.get("referencedDeclaration") in self.params
                    for a in node.get("arguments", [])
                    for n in walk(a)
                ):
                    add("delegatecall_input")
        elif member == "send" and is_address:
            add("send")
            external = True
            if statement and not cond:
                add("unchecked_send")
        elif member == "transfer" and is_address:
            add("transfer")
            external = True
        elif member in _SAFE_MATH and ("int" in base_type or base_type.startswith("type(library")):
            add("safemath")
        elif member == "push":
            add("array_push")
            self._write(inner.get("expression", {}))
        elif member and member not in _NOT_EXTERNAL and base_type.startswith("contract "):
            add("ext_call")
            external = True
        elif self._is_hash_call(node) and self._mentions_block(node):
            add("hash_of_block")
        if external:
            self.seen_call = True
            if loop:
                add("call_in_loop")
        self._fact(callee, cond, unchecked)
        checks = callee.get("nodeType") == "Identifier" and callee.get("name") in (
            "require",
            "assert",
        )
        for child in children(node):
            if child is node.get("expression"):
                for grand in children(child):
                    self.visit(grand, cond, loop, unchecked)
            else:
                self.visit(child, cond or checks, loop, unchecked)

    def _write(self, target: Node) -> bool:
        root = target
        indexed = False
        while root.get("nodeType") in ("IndexAccess", "MemberAccess"):
            if root.get("nodeType") == "MemberAccess" and root.get("memberName") == "length":
                self.unit.add("length_write")
            if root.get("nodeType") == "IndexAccess":
                indexed = indexed or "[]" in _type(root.get("baseExpression", {}))
                root = root.get("baseExpression", {})
            else:
                root = root.get("expression", {})
        declaration = self.declarations.get(int(root.get("referencedDeclaration") or -1), {})
        # a local storage pointer (`var acc = accounts[msg.sender]`) writes storage too
        pointer = declaration.get("storageLocation") == "storage" or "storage pointer" in _type(
            root
        )
        if not (declaration.get("stateVariable") or pointer):
            return False
        self.unit.add("state_writes")
        if _type(target).startswith("address"):
            self.unit.add("state_writes_address")
        if indexed:
            self.unit.add("state_writes_indexed")
        if self.seen_call:
            self.unit.add("call_before_write")
        if self.seen_value_call:
            self.unit.add("value_call_before_write")
        if self.seen_checked_value_call:
            self.unit.add("checked_call_before_write")
        return True

    def _dynamic_bound(self, condition: Node) -> bool:
        for n in walk(condition):
            if n.get("nodeType") == "MemberAccess" and n.get("memberName") == "length":
                return True
            declaration = self.declarations.get(int(n.get("referencedDeclaration") or -1), {})
            if n.get("nodeType") == "Identifier" and declaration.get("stateVariable"):
                return True
        return False

    def _mentions_block(self, node: Node) -> bool:
        for n in walk(node):
            if (
                n.get("nodeType") == "MemberAccess"
                and n.get("expression", {}).get("name") == "block"
            ):
                return True
            if n.get("nodeType") == "Identifier" and n.get("name") in ("now", "blockhash"):
                return True
        return False

    def _is_hash_call(self, node: Node) -> bool:
        callee = node.get("expression", {}) if node.get("nodeType") == "FunctionCall" else {}
        return callee.get("nodeType") == "Identifier" and callee.get("name") in _HASHES

    def _is_this(self, node: Node) -> bool:
        if node.get("nodeType") == "Identifier" and node.get("name") == "this":
            return True
        if node.get("nodeType") == "FunctionCall":
            return any(self._is_this(a) for a in node.get("arguments", []))
        return False
