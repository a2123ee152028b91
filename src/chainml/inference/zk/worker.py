"""The child process that runs one EZKL call (started as a script: it imports only EZKL).

It reads ``{"steps": [{"call", "args", "kwargs", "run_args"}, ...], "result"}`` as JSON on
stdin, runs each ``ezkl.<call>(*args, **kwargs)`` in turn (awaiting it inside an event loop
when EZKL returns a future), writes ``{"ok", "values", "seconds", "error",
"peak_rss_bytes"}`` to the ``result`` file and
leaves with ``os._exit``: on 2026 builds the interpreter often segfaults at exit after EZKL's
asynchronous calls, and skipping the interpreter's teardown avoids it. EZKL prints its own
reports on stdout, which is why the result goes to a file.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from typing import Any

#: EZKL calls that return a future, or need a running event loop even to start.
ASYNC_CALLS = frozenset({"calibrate_settings", "create_evm_verifier", "get_srs", "deploy_evm",
                         "verify_evm", "create_evm_vka", "register_vka"})  # fmt: skip


def _run(request: dict[str, Any]) -> Any:
    import ezkl

    kwargs = dict(request.get("kwargs") or {})
    if request.get("run_args") is not None:
        run_args = ezkl.PyRunArgs()
        for name, value in request["run_args"].items():
            setattr(run_args, name, value)
        kwargs["py_run_args"] = run_args
    function = getattr(ezkl, request["call"])
    if request["call"] not in ASYNC_CALLS:  # plain calls run faster outside an event loop
        return function(*request.get("args", []), **kwargs)

    import asyncio
    import inspect

    async def call() -> Any:  # some calls need a running event loop even to start
        value = function(*request.get("args", []), **kwargs)
        return await value if inspect.isawaitable(value) else value

    return asyncio.run(call())


def main() -> None:
    """Run the request on stdin; always leave through ``os._exit``."""
    request = json.loads(sys.stdin.read())
    outcome: dict[str, Any] = {"ok": True, "values": [], "seconds": []}
    for step in request["steps"]:
        started = time.perf_counter()
        try:
            value = _run(step)
        except Exception as err:  # reported to the parent, which raises a typed error
            outcome.update(ok=False, call=step["call"], error=f"{type(err).__name__}: {err}")
            break
        if not isinstance(value, bool | int | float | str | type(None)):
            value = None  # witnesses and proofs are read from their files
        outcome["values"].append(value)
        outcome["seconds"].append(time.perf_counter() - started)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    outcome["peak_rss_bytes"] = peak
    with open(request["result"], "w", encoding="utf-8") as handle:
        json.dump(outcome, handle)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
