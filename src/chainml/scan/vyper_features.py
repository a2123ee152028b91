"""Per-function features of a Vyper contract, from the compiler's annotated AST.

Vyper checks arithmetic and forbids reentrant state by construction in places, but calls,
``raw_call``, ``send``, ``selfdestruct``, ``tx.origin`` and block values mean what they do in
Solidity, so they map onto the same features.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chainml.errors import CompilationError
from chainml.scan.units import Unit

Node = dict[str, Any]


def vyper_units(name: str, source: bytes, search_path: Path | None = None) -> list[Unit]:
    """Compile comment-free Vyper ``source`` and return its functions as units."""
    import vyper
    from vyper.compiler.input_bundle import FilesystemInputBundle

    bundle = FilesystemInputBundle([search_path or Path.cwd()])
    try:
        out = vyper.compile_code(
            source.decode(),
            contract_path=name,
            input_bundle=bundle,
            output_formats=["annotated_ast_dict"],
        )
    except Exception as err:
        raise CompilationError(
            name, str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
        ) from err
    module = out["annotated_ast_dict"]["ast"]
    contract = Path(name).stem
    units = []
    for node in module.get("body", []):
        if node.get("ast_type") != "FunctionDef":
            continue
        unit = Unit(name, contract, str(node["name"]), int(node["lineno"]), int(node["end_lineno"]))
        _facts(unit, node)
        units.append(unit)
    return units


def _walk(node: Any) -> Iterator[Node]:
    if isinstance(node, dict):
        if "ast_type" in node:
            yield node
        for key, value in node.items():
            if key not in ("type", "doc_string"):
                yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def _is(node: Node, base: str, attr: str) -> bool:
    value = node.get("value") or {}
    return (
        node.get("ast_type") == "Attribute" and node.get("attr") == attr and value.get("id") == base
    )


def _facts(unit: Unit, fn: Node) -> None:
    decorators = {d.get("id") for d in fn.get("decorator_list", []) if isinstance(d, dict)}
    unit.features.update(vyper=1.0, is_public=float("external" in decorators))
    unit.features["is_payable"] = float("payable" in decorators)
    unit.features["is_constructor"] = float(fn.get("name") == "__init__")
    unit.features["is_fallback"] = float(fn.get("name") == "__default__")
    unit.features["returns_value"] = float(fn.get("returns") is not None)
    conditions = {
        id(n)
        for c in _walk(fn)
        if c.get("ast_type") in ("If", "Assert")
        for n in _walk(c.get("test"))
    }
    seen_call = False
    for node in _walk(fn.get("body")):
        kind = node.get("ast_type")
        if kind in ("Assign", "AugAssign", "Expr", "Return", "Log", "Assert", "Raise"):
            unit.add("statements")
        if kind in ("Assert",):
            unit.add("require")
        if kind == "For":
            unit.add("loops")
        if kind in ("ExtCall", "StaticCall"):
            unit.add("ext_call")
            seen_call = True
        if kind == "Call":
            func = node.get("func") or {}
            name = func.get("id")
            if name == "raw_call":
                unit.add("ll_call")
                seen_call = True
            elif name == "send":
                unit.add("send")
                seen_call = True
            elif name == "selfdestruct":
                unit.add("selfdestruct")
            elif name == "blockhash":
                unit.add("blockhash")
        if kind in ("Assign", "AugAssign"):
            target = node.get("target") or {}
            while target.get("ast_type") == "Subscript":
                target = target.get("value") or {}
            if (
                target.get("ast_type") == "Attribute"
                and (target.get("value") or {}).get("id") == "self"
            ):
                unit.add("state_writes")
                if seen_call:
                    unit.add("call_before_write")
        if kind in ("BinOp", "AugAssign") and (node.get("op") or {}).get("ast_type") in (
            "Add",
            "Sub",
            "Mult",
        ):
            unit.add("arith")
        if _is(node, "tx", "origin"):
            unit.add("tx_origin")
            unit.add("tx_origin_check", float(id(node) in conditions))
        elif _is(node, "msg", "sender"):
            unit.add("msg_sender")
            unit.add("has_sender_check", float(id(node) in conditions))
        elif _is(node, "msg", "value"):
            unit.add("msg_value")
        elif _is(node, "block", "timestamp"):
            unit.add("timestamp")
            unit.add("timestamp_check", float(id(node) in conditions))
        elif _is(node, "block", "number"):
            unit.add("block_number")
