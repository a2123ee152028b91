#!/usr/bin/env python3
"""A native-``solc`` stand-in for Slither: ``--version`` and ``--combined-json`` via solcjs.

Slither (crytic-compile) runs ``solc --version`` and ``solc FILE --combined-json OPTS``; no
native solc is installed here, so this translates both to standard JSON on the npm release
named by ``SOLCJS_VERSION`` (driven by chainml's ``solcjs_runner.js``). Used only by
``benchmarks/contract_scan.py``.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

MODULES = Path(os.environ["CHAINML_NODE_MODULES"])
VERSION = os.environ["SOLCJS_VERSION"]
RUNNER = Path(os.environ["SOLCJS_RUNNER"])
WRAPPER = os.environ["SOLCJS_WRAPPER"]


_IMPORT = re.compile(r"""^\s*import\s+(?:[^"';]*\sfrom\s+)?["']([^"']+)["']""", re.M)


def _with_imports(filename: str) -> dict[str, str]:
    """The file and every file it imports by a relative path, named as solc resolves them."""
    found: dict[str, str] = {}
    todo = [os.path.normpath(filename)]
    while todo:
        name = todo.pop()
        if name in found or not Path(name).is_file():
            continue
        found[name] = Path(name).read_text()
        for target in _IMPORT.findall(found[name]):
            if target.startswith("."):
                todo.append(os.path.normpath(os.path.join(os.path.dirname(name), target)))
    return found


def main(argv: list[str]) -> int:
    if "--version" in argv:
        print(
            f"solc, the solidity compiler commandline interface\nVersion: {VERSION}+commit.00000000"
        )
        return 0
    filename = next(a for a in argv if a.endswith(".sol"))
    select = [
        "abi",
        "evm.bytecode.object",
        "evm.bytecode.sourceMap",
        "evm.deployedBytecode.object",
        "evm.deployedBytecode.sourceMap",
        "userdoc",
        "devdoc",
        "evm.methodIdentifiers",
    ]
    job = {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in _with_imports(filename).items()},
        "settings": {"outputSelection": {"*": {"*": select, "": ["ast"]}}},
    }
    done = subprocess.run(
        ["node", str(RUNNER), str(MODULES / f"solc-{VERSION}"), WRAPPER],
        input=json.dumps([job]).encode(),
        capture_output=True,
        check=False,
    )
    if done.returncode:
        sys.stderr.write(done.stderr.decode())
        return 1
    out = json.loads(done.stdout)["outputs"][0]
    errors = [e for e in out.get("errors", []) if e.get("severity") == "error"]
    for e in out.get("errors", []):
        sys.stderr.write(e.get("formattedMessage", "") + "\n")
    if errors:
        return 1
    new = tuple(int(p) for p in VERSION.split(".")) >= (0, 8, 0)
    enc = (lambda x: x) if new else json.dumps
    contracts = {}
    for src, items in out.get("contracts", {}).items():
        for name, c in items.items():
            evm = c.get("evm", {})
            contracts[f"{src}:{name}"] = {
                "abi": enc(c.get("abi", [])),
                "bin": evm.get("bytecode", {}).get("object", ""),
                "bin-runtime": evm.get("deployedBytecode", {}).get("object", ""),
                "srcmap": evm.get("bytecode", {}).get("sourceMap", ""),
                "srcmap-runtime": evm.get("deployedBytecode", {}).get("sourceMap", ""),
                "userdoc": enc(c.get("userdoc", {})),
                "devdoc": enc(c.get("devdoc", {})),
                "hashes": evm.get("methodIdentifiers", {}),
            }
    sources = {s: {"AST": v["ast"]} for s, v in out.get("sources", {}).items()}
    print(
        json.dumps(
            {
                "contracts": contracts,
                "sources": sources,
                "sourceList": list(sources),
                "version": VERSION,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
