"""Running EZKL: each call in a child process, timed, with its peak memory and a typed error.

:func:`run_ezkl` starts :mod:`chainml.inference.zk.worker` (as a script, importing only EZKL)
for one call and waits for it
(bounded by ``timeout``). The child's ``HOME`` points at the solc shim's directory
(:mod:`chainml.inference.zk.solidity`), where EZKL looks for ``.svm/0.8.20/solc-0.8.20``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chainml.errors import ChainMLError

Step = dict[str, Any]

#: The EZKL release chainml's circuits, keys and verifiers are made with.
EZKL_VERSION = "23.0.5"
DEFAULT_TIMEOUT = 1800.0
#: The worker runs as a file, not as ``-m chainml...``: importing the chainml package would
#: cost the child seconds (the chain layer) for nothing; the worker needs only EZKL.
WORKER = Path(__file__).with_name("worker.py")
_START = "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__main__')"


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


def step(call: str, *args: Any, run_args: dict[str, Any] | None = None, **kwargs: Any) -> Step:
    """One EZKL call for :func:`run_steps` (paths become strings)."""
    return {
        "call": call,
        "args": [str(a) if isinstance(a, Path) else a for a in args],
        "kwargs": {k: str(v) if isinstance(v, Path) else v for k, v in kwargs.items()},
        "run_args": run_args,
    }


def run_steps(
    steps: list[Step],
    *,
    home: Path | None = None,
    environ: dict[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[EzklRun]:
    """Run EZKL calls one after the other in one child process; one EzklRun each.

    Each run's ``peak_rss_bytes`` is the child's peak so far (the last is the whole child's).
    """
    ezkl_version()
    environment = dict(os.environ)
    if home is not None:
        environment["HOME"] = str(home)
    environment.update(environ or {})
    first = steps[0]["call"]
    with tempfile.TemporaryDirectory(prefix="chainml-ezkl-") as scratch:
        result = Path(scratch) / "result.json"
        request = {"steps": steps, "result": str(result)}
        try:
            finished = subprocess.run(
                [sys.executable, "-c", _START, str(WORKER)],
                input=json.dumps(request),
                capture_output=True,
                text=True,
                timeout=timeout,
                env=environment,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ZkToolError(first, f"no answer within {timeout:.0f} s") from None
        try:
            outcome = json.loads(result.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            tail = (finished.stderr or finished.stdout or "").strip()[-600:]
            raise ZkToolError(
                first, f"the EZKL process died (exit {finished.returncode}): {tail}"
            ) from None
    if not outcome["ok"]:
        raise ZkToolError(str(outcome["call"]), str(outcome["error"]))
    peak = int(outcome["peak_rss_bytes"])
    return [
        EzklRun(s["call"], value, seconds, peak)
        for s, value, seconds in zip(steps, outcome["values"], outcome["seconds"], strict=True)
    ]


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
    [run] = run_steps(
        [step(call, *args, run_args=run_args, **kwargs)],
        home=home, environ=environ, timeout=timeout,
    )  # fmt: skip
    return run
