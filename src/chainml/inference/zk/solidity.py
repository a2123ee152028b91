"""Solidity for EZKL's verifier: solcjs (npm ``solc``) found locally, a shim for EZKL, compiling.

chainml's own contracts are Vyper; the verifier EZKL generates is Solidity. It is compiled
with the npm package ``solc`` (solcjs, the compiler built to WebAssembly), which
``npm ci`` installs into ``node_modules`` from the project's lockfile: nothing is downloaded
at run time. EZKL insists on a native ``solc`` at ``$HOME/.svm/0.8.20/solc-0.8.20``; chainml
writes a small Node script there, under the data directory (:func:`solc_home`), that answers
``--standard-json`` with solcjs, and runs EZKL with ``HOME`` pointing at it. With
``CHAINML_SOLC_OUTPUT`` set, the shim also keeps its output there, so the bytecode EZKL
compiled is reused instead of compiled twice (:func:`compiled_from_output`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from chainml.chain.compiler import CompiledContract
from chainml.errors import CompilationError, InvalidInputError
from chainml.files import write_atomic

SOLC_VERSION = "0.8.20"  # the version EZKL asks for (svm's path); package.json pins the same
EVM_VERSION = "shanghai"  # what EZKL compiles its verifier for; later forks run it unchanged
_SHIM = """#!{node}
// chainml's stand-in for a native solc {version}: EZKL calls `solc --standard-json`.
const solc = require({solc});
const args = process.argv.slice(2);
if (args.includes("--version")) {{
  console.log("solc, the solidity compiler commandline interface\\nVersion: " + solc.version());
}} else if (args.includes("--standard-json")) {{
  let input = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk) => (input += chunk));
  process.stdin.on("end", () => {{
    const output = solc.compile(input);
    const keep = process.env.CHAINML_SOLC_OUTPUT;
    if (keep) require("fs").writeFileSync(keep, output);
    process.stdout.write(output);
  }});
}} else {{
  console.error("chainml solc shim: only --standard-json and --version are supported");
  process.exit(2);
}}
"""


def find_node() -> Path:
    """The ``node`` executable (``$CHAINML_NODE``, else PATH)."""
    found = os.environ.get("CHAINML_NODE") or shutil.which("node")
    if not found:
        raise InvalidInputError("node not found: solcjs needs Node.js (set CHAINML_NODE)")
    return Path(found)


def find_solcjs(start: Path | None = None) -> Path:
    """The npm ``solc`` package directory: ``$CHAINML_SOLCJS``, else ``node_modules`` upwards."""
    if explicit := os.environ.get("CHAINML_SOLCJS"):
        return Path(explicit)
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents, *Path(__file__).resolve().parents):
        candidate = folder / "node_modules" / "solc"
        if (candidate / "soljson.js").is_file():
            return candidate
    raise InvalidInputError(
        "solcjs not found: run `make install` (npm ci installs the npm package solc into "
        "node_modules) or set CHAINML_SOLCJS to the package directory"
    )


def solcjs_version(package: Path) -> str:
    """The version of the npm ``solc`` package at ``package``."""
    document = json.loads((package / "package.json").read_text(encoding="utf-8"))
    return str(document["version"])


def solc_home(data_dir: Path) -> Path:
    """A HOME for EZKL whose ``.svm/<v>/solc-<v>`` is the solcjs shim (written if needed)."""
    package = find_solcjs()
    version = solcjs_version(package)
    if version != SOLC_VERSION:
        raise InvalidInputError(
            f"node_modules/solc is {version}; EZKL's verifier needs {SOLC_VERSION} (npm ci)"
        )
    home = Path(data_dir) / "zk" / "solc-home"
    shim = home / ".svm" / SOLC_VERSION / f"solc-{SOLC_VERSION}"
    text = _SHIM.format(node=find_node(), version=SOLC_VERSION, solc=json.dumps(str(package)))
    if not shim.is_file() or shim.read_text(encoding="utf-8") != text:
        shim.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(shim, text, mode=0o755)
    return home


def standard_input(source: str, name: str) -> dict[str, Any]:
    """The standard-JSON input EZKL uses for its verifier (optimizer on, runs 0)."""
    return {
        "language": "Solidity",
        "sources": {f"{name}.sol": {"content": source}},
        "settings": {
            "optimizer": {"enabled": True, "runs": 0},
            "evmVersion": EVM_VERSION,
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object",
                                             "evm.deployedBytecode.object"]}},
        },
    }  # fmt: skip


def compiled_from_output(output: dict[str, Any], contract: str, source: str) -> CompiledContract:
    """The contract from solc's standard-JSON output; CompilationError on errors."""
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompilationError(
            contract, "; ".join(str(e.get("formattedMessage", e)) for e in errors)
        )
    try:
        artifact = next(
            found[contract] for found in output["contracts"].values() if contract in found
        )
    except (KeyError, StopIteration):
        raise CompilationError(contract, "solcjs produced no such contract") from None
    return CompiledContract(
        name=contract,
        abi=artifact["abi"],
        bytecode=bytes.fromhex(artifact["evm"]["bytecode"]["object"]),
        runtime_bytecode=bytes.fromhex(artifact["evm"]["deployedBytecode"]["object"]),
        source_hash=hashlib.sha256(source.encode()).hexdigest(),
        compiler_version=f"solcjs {solcjs_version(find_solcjs())}",
    )


def compile_solidity(source: str, contract: str, timeout: float = 300.0) -> CompiledContract:
    """Compile ``contract`` from Solidity ``source`` with solcjs; CompilationError on errors."""
    package = find_solcjs()
    script = f"const s = require({json.dumps(str(package))}); " + (
        "let i = ''; process.stdin.on('data', d => i += d); "
        "process.stdin.on('end', () => process.stdout.write(s.compile(i)));"
    )
    request = json.dumps(standard_input(source, contract))
    try:
        finished = subprocess.run(
            [str(find_node()), "-e", script], input=request, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise CompilationError(contract, f"solcjs did not finish within {timeout:.0f} s") from None
    try:
        output = json.loads(finished.stdout)
    except ValueError:
        raise CompilationError(
            contract, f"solcjs failed: {finished.stderr.strip()[-400:]}"
        ) from None
    return compiled_from_output(output, contract, source)
