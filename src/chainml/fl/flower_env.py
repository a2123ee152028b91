"""Flower's process settings: no telemetry, no update check, its home inside the data directory.

Call :func:`configure_flower` before importing ``flwr``: Flower reads these variables at
import and start-up. Nothing here lets Flower download or install anything at run time.
"""

from __future__ import annotations

import os
from pathlib import Path

from chainml.errors import InvalidInputError


def configure_flower(data_dir: Path) -> Path:
    """Set Flower's environment for this process (and the Ray workers it starts).

    Raises :class:`InvalidInputError` naming the extra when Flower is not installed.
    """
    import importlib.util

    for module in ("flwr", "dp_accounting"):
        if importlib.util.find_spec(module) is None:
            raise InvalidInputError(
                f"federated learning needs the 'fl' extra ({module} is missing): "
                "pip install 'chainml[fl]'"
            )
    home = Path(data_dir).resolve() / "fl" / ".flwr"
    home.mkdir(parents=True, exist_ok=True)
    os.environ["FLWR_TELEMETRY_ENABLED"] = "0"
    os.environ["FLWR_DISABLE_UPDATE_CHECK"] = "1"
    os.environ["FLWR_HOME"] = str(home)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # Ray's own usage reporting
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    return home
