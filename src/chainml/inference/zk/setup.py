"""``chainml zk setup``: circuit, keys and Solidity verifier of a stored model, cached by settings.

Steps (each an EZKL call in a child process, :mod:`chainml.inference.zk.runner`):

1. the exact integer circuit as ONNX (:mod:`chainml.inference.zk.circuit`);
2. ``gen_settings`` with input visibility ``public``, ``hashed`` or ``private`` (the output,
   the score, is always public), input and parameter scales 0;
3. ``calibrate_settings`` on rows of the model's own dataset (fixed-point features), bounded
   by ``max_logrows``: a model that needs more rows is refused, not run out of memory;
4. ``compile_circuit``;
5. the structured reference string: the user's file (``--srs PATH``, e.g. from a public
   ceremony), or a local ``gen_srs`` that is **insecure for production** (whoever made it
   can forge proofs) and is labelled so in the manifest, every receipt and every command's
   output. Nothing is ever downloaded;
6. ``setup`` (proving and verifying keys) and ``create_evm_verifier`` (Solidity, compiled
   here once with solcjs so that deploying needs no compiler).

Everything lands in ``<model dir>/zk/<key>/`` where ``key`` is the SHA-256 of the calibrated
settings (less EZKL's timestamp) and the SRS, written atomically; a second setup with the same
settings and SRS returns the cached circuit. ``zk.json`` there (the circuit's card) records
what was made.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from chainml.errors import InvalidInputError, NotFoundError
from chainml.files import atomic_directory
from chainml.inference.policy import encode
from chainml.inference.zk import circuit as circuits
from chainml.inference.zk.runner import (
    EZKL_VERSION,
    EzklRun,
    ezkl_version,
    run_ezkl,
    run_steps,
    step,
)
from chainml.inference.zk.solidity import compile_solidity, compiled_from_output, solc_home
from chainml.models.artifacts import ModelArtifact

MANIFEST = "zk.json"
MANIFEST_FORMAT = "chainml.zk-circuit/1"
VISIBILITIES = ("public", "hashed", "private")
DEFAULT_MAX_LOGROWS = 17  # ~1.5 GiB of proving memory for a small circuit; raise knowingly
MIN_LOGROWS = 7
VERIFIER_CONTRACT = "Halo2Verifier"
INSECURE_SRS = (
    "INSECURE FOR PRODUCTION: the structured reference string was generated locally by "
    "`ezkl gen_srs`; whoever generated it can forge proofs. Pass --srs with a file from a "
    "public ceremony for proofs that mean anything to others."
)
Progress = Callable[[str], None]

_FILES = {
    "onnx": "circuit.onnx",
    "settings": "settings.json",
    "compiled": "circuit.ezkl",
    "srs": "kzg.srs",
    "vk": "vk.key",
    "pk": "pk.key",
    "verifier": "Verifier.sol",
    "abi": "Verifier.abi.json",
    "bytecode": "Verifier.bin.json",
}


@dataclass(frozen=True)
class ZkCircuit:
    """A set-up circuit of one model: where its files are and what its card says."""

    path: Path
    manifest: dict[str, Any]

    def file(self, role: str) -> Path:
        """The path of one of the circuit's files (``settings``, ``pk``, ``vk``, ...)."""
        return self.path / _FILES[role]

    @property
    def model_id(self) -> str:
        """The model the circuit proves."""
        return str(self.manifest["model_id"])

    @property
    def key(self) -> str:
        """The cache key: SHA-256 of the settings and the SRS."""
        return str(self.manifest["key"])

    @property
    def inputs(self) -> str:
        """Input visibility: ``public``, ``hashed`` or ``private``."""
        return str(self.manifest["inputs"])

    @property
    def vk_hash(self) -> bytes:
        """SHA-256 of the verifying key file."""
        return bytes.fromhex(str(self.manifest["vk_sha256"])[2:])

    @property
    def insecure(self) -> bool:
        """True when the SRS was generated locally (never for production)."""
        return bool(self.manifest["srs"]["insecure"])

    @property
    def srs_note(self) -> str:
        """The plain words about the SRS, for every output."""
        return str(self.manifest["srs"]["note"])


def sha256_file(path: Path) -> str:
    """``0x`` + SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "0x" + digest.hexdigest()


def zk_dir(artifact: ModelArtifact) -> Path:
    """Where a model's circuits are cached."""
    return artifact.path / "zk"


def calibration_rows(artifact: ModelArtifact, rows: npt.ArrayLike, limit: int) -> list[list[int]]:
    """Up to ``limit`` float rows as the fixed-point features the log records."""
    encoded = encode(artifact.policy.model.inputs, np.asarray(rows, dtype=np.float64)[:limit])
    if len(encoded) == 0:
        raise InvalidInputError("calibration needs at least one row of the model's dataset")
    return [[int(v) for v in row] for row in encoded]


def run_args(inputs: str, logrows: int) -> dict[str, Any]:
    """EZKL's run arguments for the exact integer circuit (scales 0, the score public)."""
    if inputs not in VISIBILITIES:
        raise InvalidInputError(f"--inputs must be one of {', '.join(VISIBILITIES)}")
    return {
        "input_scale": 0,
        "param_scale": 0,
        "input_visibility": "hashed/public" if inputs == "hashed" else inputs,
        "output_visibility": "public",
        "param_visibility": "fixed",
        # public inputs and the output are field elements the verifier sees: no range check
        "ignore_range_check_inputs_outputs": True,
        "logrows": logrows,
    }


def settings_key(settings: dict[str, Any], srs_hash: str) -> str:
    """The cache key: SHA-256 of the canonical settings (without EZKL's timestamp) and SRS."""
    canonical = {name: value for name, value in settings.items() if name != "timestamp"}
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode() + bytes.fromhex(srs_hash[2:])).hexdigest()


def load_circuit(artifact: ModelArtifact, key: str | None = None) -> ZkCircuit:
    """The model's set-up circuit (the one with ``key``, else the newest); NotFoundError."""
    found = []
    root = zk_dir(artifact)
    for manifest in sorted(root.glob(f"*/{MANIFEST}")) if root.is_dir() else []:
        document = json.loads(manifest.read_text(encoding="utf-8"))
        if document.get("format") == MANIFEST_FORMAT and document.get("model_id") == (
            artifact.model_id
        ):
            found.append(ZkCircuit(manifest.parent, document))
    if key is not None:
        found = [c for c in found if c.key.startswith(key)]
    if not found:
        raise NotFoundError(
            f"model {artifact.model_id[:18]}… has no zk circuit"
            + (f" with key {key}" if key else "")
            + f": run `chainml zk setup {artifact.model_id[:10]}`"
        )
    return max(found, key=lambda c: str(c.manifest["created"]))


def _step(progress: Progress | None, text: str) -> None:
    if progress is not None:
        progress(text)


def setup_circuit(
    artifact: ModelArtifact,
    data_dir: Path,
    rows: npt.ArrayLike,
    *,
    inputs: str = "public",
    srs: Path | None = None,
    max_logrows: int = DEFAULT_MAX_LOGROWS,
    limit: int = 256,
    min_logrows: int | None = None,
    progress: Progress | None = None,
) -> tuple[ZkCircuit, bool]:
    """Set up (or find cached) the circuit of ``artifact``; return it and whether it is new.

    ``rows`` are float rows of the model's dataset for calibration (at most ``limit`` used).
    ``min_logrows`` pads the circuit to at least ``2**min_logrows`` rows (benchmarks compare
    at a given size; a larger circuit proves the same statement, more slowly).
    """
    from datetime import UTC, datetime

    ezkl_version()
    if srs is not None and not Path(srs).is_file():
        raise InvalidInputError(f"--srs {srs}: no such file (chainml never downloads an SRS)")
    onnx_bytes = circuits.circuit_onnx(artifact.policy.model)
    calibration = circuits.input_document(calibration_rows(artifact, rows, limit))
    runs: dict[str, EzklRun] = {}
    with tempfile.TemporaryDirectory(prefix="chainml-zk-") as scratch_name:
        scratch = Path(scratch_name)
        (scratch / _FILES["onnx"]).write_bytes(onnx_bytes)
        (scratch / "calibration.json").write_text(json.dumps(calibration))
        settings = scratch / _FILES["settings"]
        _step(progress, "settings, calibrated on the model's dataset rows")
        _, runs["calibrate"] = run_steps([
            step("gen_settings", scratch / _FILES["onnx"], settings,
                 run_args=run_args(inputs, MIN_LOGROWS)),
            step("calibrate_settings", scratch / "calibration.json", scratch / _FILES["onnx"],
                 settings, "resources", scales=[0], max_logrows=max_logrows),
        ])  # fmt: skip
        document = json.loads(settings.read_text(encoding="utf-8"))
        if min_logrows is not None and document["run_args"]["logrows"] < min_logrows:
            document["run_args"]["logrows"] = min_logrows
            settings.write_text(json.dumps(document))
        logrows = int(document["run_args"]["logrows"])
        if logrows > max_logrows:
            raise InvalidInputError(
                f"the circuit needs 2**{logrows} rows, above --max-logrows {max_logrows}"
            )
        if srs is not None:
            srs_hash, insecure = sha256_file(Path(srs)), False
            srs_note = f"SRS from the file {Path(srs).name} (SHA-256 {srs_hash}), given by --srs"
        else:
            local = _local_srs(data_dir, logrows, progress)
            srs, srs_hash, insecure, srs_note = local, sha256_file(local), True, INSECURE_SRS
        key = settings_key(document, srs_hash)
        final = zk_dir(artifact) / key[:16]
        if (final / MANIFEST).is_file():
            return load_circuit(artifact, key), False
        zk_dir(artifact).mkdir(parents=True, exist_ok=True)
        with atomic_directory(final) as staging:
            for role in ("onnx", "settings"):
                shutil.copyfile(scratch / _FILES[role], staging / _FILES[role])
            shutil.copyfile(srs, staging / _FILES["srs"])
            paths = {role: staging / name for role, name in _FILES.items()}
            _step(progress, f"circuit (2**{logrows} rows), keys and Solidity verifier (solcjs)")
            _, runs["setup"], runs["verifier"] = run_steps(
                [
                    step("compile_circuit", paths["onnx"], paths["compiled"], paths["settings"]),
                    step("setup", paths["compiled"], paths["vk"], paths["pk"],
                         srs_path=paths["srs"]),
                    step("create_evm_verifier", paths["vk"], paths["settings"],
                         paths["verifier"], paths["abi"], srs_path=paths["srs"]),
                ],
                home=solc_home(data_dir),
                environ={"CHAINML_SOLC_OUTPUT": str(scratch / "solc.json")},
            )  # fmt: skip
            source = paths["verifier"].read_text()
            try:  # the shim kept what EZKL compiled; compile again only if it did not
                output = json.loads((scratch / "solc.json").read_text(encoding="utf-8"))
                compiled = compiled_from_output(output, VERIFIER_CONTRACT, source)
            except (OSError, ValueError):
                compiled = compile_solidity(source, VERIFIER_CONTRACT)
            paths["bytecode"].write_text(json.dumps({
                "contract": VERIFIER_CONTRACT, "compiler": compiled.compiler_version,
                "abi": compiled.abi, "bytecode": "0x" + compiled.bytecode.hex(),
                "runtime_bytecode": "0x" + compiled.runtime_bytecode.hex(),
            }))  # fmt: skip
            policy = artifact.policy
            manifest = {
                "format": MANIFEST_FORMAT,
                "model_id": artifact.model_id,
                "key": key,
                "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ezkl": EZKL_VERSION,
                "proof_system": "halo2 PLONK, KZG commitments on BN254 (EZKL)",
                "inputs": inputs,
                "outputs": "public: the integer score (logit at score_scale), as logged",
                "logrows": logrows,
                "features": policy.model.n_features,
                "score_scale": policy.score_scale,
                "threshold_int": policy.threshold,
                "scales": SCALE_ALIGNMENT,
                "settings_sha256": sha256_file(paths["settings"]),
                "vk_sha256": sha256_file(paths["vk"]),
                "verifier": {
                    "contract": VERIFIER_CONTRACT,
                    "source_sha256": sha256_file(paths["verifier"]),
                    "runtime_bytes": len(compiled.runtime_bytecode),
                    "compiler": compiled.compiler_version,
                },
                "srs": {"sha256": srs_hash, "insecure": insecure, "note": srs_note},
                "calibration_rows": len(calibration["input_data"][0]) // policy.model.n_features,
                "setup_seconds": {name: round(run.seconds, 3) for name, run in runs.items()},
                "setup_peak_rss_bytes": max(run.peak_rss_bytes for run in runs.values()),
            }
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return load_circuit(artifact, key), True


#: How the circuit's numbers line up with the log's (recorded in every circuit's card).
SCALE_ALIGNMENT = (
    "EZKL input_scale = param_scale = 0 (denominator 1): the public inputs are the record's "
    "fixed-point features x_int = round(x * s_i) exactly (s_i = 1 or 2**20, policy.json), the "
    "constants are the integer weights and bias of policy.json (split into exact float32 limbs "
    "of 24 bits and summed in the circuit), and the public output is bias + sum(w_i * x_int_i): "
    "the record's score itself, an integer at score_scale (score / score_scale = logit)"
)


def _local_srs(data_dir: Path, logrows: int, progress: Progress | None) -> Path:
    """A locally generated SRS for ``logrows`` (cached; INSECURE FOR PRODUCTION)."""
    path = Path(data_dir) / "zk" / "srs" / f"insecure-local-k{logrows}.srs"
    if not path.is_file():
        _step(progress, f"generating a LOCAL SRS (k={logrows}): INSECURE FOR PRODUCTION")
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        run_ezkl("gen_srs", partial, logrows)
        partial.replace(path)
    return path
