"""Running the app: uvicorn on one event loop (uvloop and httptools when installed)."""

from __future__ import annotations

import gc
import importlib.util
import sys

from fastapi import FastAPI

SWITCH_INTERVAL = 0.0002  # seconds
GC_THRESHOLD = 20_000  # allocations between young-generation collections


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def run_server(app: FastAPI, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve ``app`` until SIGINT/SIGTERM, then shut down cleanly (the log writer drains).

    One process and one event loop: the decision log has a single writer. Access logs are
    off (the metrics count every request).
    """
    import uvicorn

    # A log writer thread (writer_process=False) releases the GIL at every SQLite call and must
    # get it back fast: with the default 5 ms switch interval it would wait behind the loop.
    sys.setswitchinterval(SWITCH_INTERVAL)
    # Everything loaded so far (models, chain libraries, the app) lives as long as the server:
    # frozen, the collector no longer rescans it; and a batch request allocates thousands of
    # objects, which at the default threshold (700) set off several collections each.
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD)

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop" if _have("uvloop") else "asyncio",
        http="httptools" if _have("httptools") else "h11",
        access_log=False,
        log_level="warning",
        backlog=2048,
        timeout_keep_alive=30,
    )
    uvicorn.Server(config).run()
