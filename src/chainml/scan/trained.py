"""The scan model trained at run time: inputs located and hashed, trained once, cached.

Nothing trained is shipped. The model is fitted on SmartBugs Curated (``CHAINML_SMARTBUGS_DIR``,
default ``<data dir>/smartbugs-curated``) with OpenZeppelin's releases (the ``oz-N`` packages
in ``node_modules``) and chainml's Vyper contracts as negatives, and stored in
``<data dir>/scan/models/<key>.json``. The key is the SHA-256 of every training input: the
corpus files, the installed solcjs releases, the scan code itself, scikit-learn's and NumPy's
versions, the number of trees and the seed. Training is seeded, so the same inputs give the
same bytes and the same model id (the SHA-256 of those bytes, logged with every scan).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chainml.errors import NotFoundError
from chainml.scan.model import ScanModel

SMARTBUGS_ENV = "CHAINML_SMARTBUGS_DIR"
TRAINING_FORMAT = "chainml.scan-training/1"
DEFAULT_TREES = 60
DEFAULT_SEED = 0

Progress = Callable[[str], None]


def smartbugs_dir(data_dir: Path, explicit: Path | None = None) -> Path:
    """Where SmartBugs Curated is: ``explicit``, ``$CHAINML_SMARTBUGS_DIR``, or the data dir's."""
    env = os.environ.get(SMARTBUGS_ENV)
    root = explicit or (Path(env) if env else data_dir / "smartbugs-curated")
    if not (root / "vulnerabilities.json").is_file():
        raise NotFoundError(
            f"SmartBugs Curated not found at {root} (no vulnerabilities.json there); the scan "
            f"model is trained on it. Set {SMARTBUGS_ENV} to a checkout of "
            "https://github.com/smartbugs/smartbugs-curated (or pass chainml contracts train "
            "--smartbugs DIR), "
            "or give a trained model with --model"
        )
    return root


@dataclass(frozen=True)
class TrainingInputs:
    """What a scan model is fitted on; :meth:`key` hashes all of it."""

    smartbugs: Path
    #: a node_modules holding the ``oz-N`` aliases; None: no OpenZeppelin negatives
    modules: Path | None
    trees: int = DEFAULT_TREES
    seed: int = DEFAULT_SEED

    def key(self) -> str:
        """SHA-256 (hex) of the corpus bytes, compilers, code and parameters."""
        import numpy
        import sklearn

        from chainml.scan.corpus import OPENZEPPELIN
        from chainml.scan.solc import installed_versions
        from chainml.scan.versions import format_version

        digest = hashlib.sha256()

        def add(label: str, data: bytes) -> None:
            digest.update(f"{label}\0{len(data)}\0".encode())
            digest.update(data)

        add("format", TRAINING_FORMAT.encode())
        add("params", json.dumps([self.trees, self.seed]).encode())
        add("libraries", f"numpy {numpy.__version__} sklearn {sklearn.__version__}".encode())
        add("solcjs", " ".join(format_version(v) for v in installed_versions()).encode())
        code = Path(__file__).resolve().parent
        for path in sorted([*code.glob("*.py"), *code.glob("*.js")]):
            add(f"code/{path.name}", path.read_bytes())
        for path in sorted((code.parent / "contracts").glob("*.vy")):
            add(f"chainml/{path.name}", path.read_bytes())
        index = (self.smartbugs / "vulnerabilities.json").read_bytes()
        add("smartbugs/vulnerabilities.json", index)
        for entry in json.loads(index):
            add(f"smartbugs/{entry['path']}", (self.smartbugs / entry["path"]).read_bytes())
        for base in [self.modules / a for a in OPENZEPPELIN] if self.modules else []:
            for path in sorted(base.rglob("*.sol")) if base.is_dir() else ():
                add(f"{base.name}/{path.relative_to(base).as_posix()}", path.read_bytes())
        return digest.hexdigest()


@dataclass(frozen=True)
class TrainedModel:
    """A model trained (or found already trained) for some inputs."""

    model: ScanModel
    path: Path
    key: str
    cached: bool
    seconds: float


def model_file(data_dir: Path, key: str) -> Path:
    """Where the model trained on inputs with this key is cached."""
    return data_dir / "scan" / "models" / f"{key}.json"


def default_inputs(data_dir: Path, smartbugs: Path | None = None) -> TrainingInputs:
    """SmartBugs as configured, OpenZeppelin from the node_modules the compilers come from."""
    from chainml.scan.solc import node_modules

    return TrainingInputs(smartbugs_dir(data_dir, smartbugs), node_modules())


def trained_model(
    data_dir: Path,
    inputs: TrainingInputs | None = None,
    *,
    key: str | None = None,
    retrain: bool = False,
    progress: Progress | None = None,
) -> TrainedModel:
    """The cached model for ``inputs`` (the default ones if None), trained first if absent.

    ``key``: ``inputs.key()`` when the caller has it already (hashing reads every input).
    """
    from chainml.files import write_atomic

    started = time.perf_counter()
    inputs = inputs or default_inputs(data_dir)
    key = key or inputs.key()
    path = model_file(data_dir, key)
    if path.is_file() and not retrain:
        model = ScanModel.from_json(path.read_bytes())
        return TrainedModel(model, path, key, True, time.perf_counter() - started)
    data = fit_inputs(inputs, progress or (lambda _: None))
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)
    model = ScanModel.from_json(data)
    return TrainedModel(model, path, key, False, time.perf_counter() - started)


def fit_inputs(inputs: TrainingInputs, progress: Progress) -> bytes:
    """Compile the corpus and fit the model; the model file's bytes."""
    from chainml.scan.corpus import openzeppelin, project_contracts, smartbugs
    from chainml.scan.groups import near_duplicate_groups
    from chainml.scan.train import fit

    progress(f"compiling SmartBugs Curated ({inputs.smartbugs})")
    files = smartbugs(inputs.smartbugs)
    if inputs.modules is not None:
        progress(f"compiling the OpenZeppelin releases in {inputs.modules}")
        files += openzeppelin(inputs.modules)
    files += project_contracts()
    groups = near_duplicate_groups([f.source for f in files], [f.group for f in files])
    progress(f"fitting {inputs.trees} trees per category on {len(files)} files")
    return fit(files, groups, trees=inputs.trees, seed=inputs.seed)
