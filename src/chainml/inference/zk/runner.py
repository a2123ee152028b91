"""Running EZKL: each call in a child process, timed, with its peak memory and a typed error.

:func:`run_ezkl` starts :mod:`chainml.inference.zk.worker` for one call and waits for it
(bounded by ``timeout``). The child's ``HOME`` points at the solc shim's directory
(:mod:`chainml.inference.zk.solidity`), where EZKL looks for ``.svm/0.8.20/solc-0.8.20``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chainml.errors import ChainMLError

#: The EZKL release chainml's circuits, keys and verifiers are made with.
EZKL_VERSION = "23.0.5"
DEFAULT_TIMEOUT = 1800.0


class ZkToolError(ChainMLError):
    """EZKL failed (or is missing, or ran out of time) on a step of setup, proving or verifying."""

    def __init__(self, call: str, detail: str) -> None:
        self.call = call
        self.detail = detail
        super().__init__(f"EZKL {call} failed: {detail}")


@dataclass(frozen=True)
class EzklRun:
    """One finished EZKL call: its return value, wall time and the child's peak RSS."""

    call: str
    value: Any
    seconds: float
    peak_rss_bytes: int


def ezkl_version() -> str:
    """The installed EZKL version (ZkToolError when the ``zk`` extra is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ezkl")
    except PackageNotFoundError:
        raise ZkToolError("import", "ezkl is not installed: pip install 'chainml[zk]'") from None


def run_ezkl(
    call: str,
    *args: Any,
    run_args: dict[str, Any] | None = None,
    home: Path | None = None,
    environ: dict[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    **kwargs: Any,
) -> EzklRun:
    """Run ``ezkl.<call>(*args, **kwargs)`` in a child process and return what it gave."""
    ezkl_version()
    environment = dict(os.environ)
    if home is not None:
        environment["HOME"] = str(home)
    environment.update(environ or {})
    with tempfile.TemporaryDirectory(prefix="chainml-ezkl-") as scratch:
        result = Path(scratch) / "result.json"
        request = {"call": call, "args": [str(a) if isinstance(a, Path) else a for a in args],
                   "kwargs": {k: str(v) if isinstance(v, Path) else v for k, v in kwargs.items()},
                   "run_args": run_args, "result": str(result)}  # fmt: skip
        started = time.perf_counter()
        try:
            finished = subprocess.run(
                [sys.executable, "-m", "chainml.inference.zk.worker"],
                input=json.dumps(request),
                capture_output=True,
                text=True,
                timeout=timeout,
                env=environment,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ZkToolError(call, f"no answer within {timeout:.0f} s") from None
        seconds = time.perf_counter() - started
        try:
            outcome = json.loads(result.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            tail = (finished.stderr or finished.stdout or "").strip()[-600:]
            raise ZkToolError(
                call, f"the EZKL process died (exit {finished.returncode}): {tail}"
            ) from None
    if not outcome["ok"]:
        raise ZkToolError(call, str(outcome["error"]))
    return EzklRun(call, outcome.get("value"), seconds, int(outcome["peak_rss_bytes"]))
