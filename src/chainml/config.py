"""Settings: where chainml keeps its data and which chain it talks to.

Values come from, in order of precedence: explicit arguments (CLI flags), ``CHAINML_*``
environment variables, a ``chainml.toml`` file in the working directory, then defaults.
Secrets (private keys, keystore passwords) are wrapped in :class:`Secret` so that they never
show up in ``repr``, logs or error messages.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chainml.errors import DataDirectoryError, InvalidInputError

if TYPE_CHECKING:
    from chainml.chain.fees import FeePolicy

DEFAULT_DATA_DIR = Path(".chainml")
CONFIG_FILE = Path("chainml.toml")
DURABILITY_LEVELS = ("normal", "full")
_FEE_KEYS = (
    "max_fee_gwei",
    "daily_budget_gwei",
    "fee_bump_seconds",
    "fee_bump_percent",
    "tx_wait_seconds",
)


class Secret:
    """A string that refuses to be printed: ``repr`` and ``str`` show a placeholder."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret value; call it only where the value is consumed."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    """Everything chainml needs to know to open a chain and its data directory."""

    data_dir: Path = DEFAULT_DATA_DIR
    rpc: str | None = None
    private_key: Secret | None = field(default=None, repr=False)
    keystore: Path | None = None
    keystore_password: Secret | None = field(default=None, repr=False)
    chain_id: int | None = None
    # "normal" survives any process crash; "full" also survives power loss (fsync each block).
    durability: str = "normal"
    # The decision logs this verifier trusts: "CHAIN_ID:ADDRESS[:CODEHASH]" entries (the roots of
    # receipt verification; see docs/receipts.md). Empty: no receipt verifies as anchored.
    trusted_logs: tuple[str, ...] = ()
    # Blocks on top of an anchor transaction before the anchor counts as final; None: 0 on
    # development chains (embedded, anvil), a safe default elsewhere.
    confirmations: int | None = None
    # -- public networks (issue 21): presets and node failover ------------------------------
    # A preset name (chainml.chain.networks: mainnet, sepolia, base, optimism, arbitrum, ...)
    # that pins the chain id and sets confirmations, fee defaults and explorer links.
    network: str | None = None
    # ``rpc`` may list several URLs of one chain, comma-separated; a node more than this many
    # blocks behind the best of them is not used, and their heads are compared this often (s).
    rpc_max_lag_blocks: int = 16
    rpc_health_interval: float = 15.0
    # -- the decision log's store (issue 18) -------------------------------------------------
    # None: the SQLite file in the data directory. ``postgresql://user@host/db[?schema=NAME]``:
    # a PostgreSQL log that several `chainml serve` replicas share (docs/scale.md). It may
    # hold a password, so it is kept out of repr.
    log_url: str | None = field(default=None, repr=False)

    # -- transaction fees (chainml.chain.txmanager); gwei here, wei inside -----------------
    # Never pay more than this per gas (CHAINML_MAX_FEE_GWEI); None: no cap.
    max_fee_gwei: float | None = None
    # Never spend more than this per UTC day and account (CHAINML_DAILY_BUDGET_GWEI).
    daily_budget_gwei: float | None = None
    # Replace a pending transaction with fees raised by fee_bump_percent (≥ 10) after this.
    fee_bump_seconds: float = 60.0
    fee_bump_percent: int = 10
    # How long a writer waits for a receipt before it reports (the transaction stays in flight).
    tx_wait_seconds: float = 120.0

    def __post_init__(self) -> None:
        if self.durability not in DURABILITY_LEVELS:
            raise InvalidInputError(
                f"durability must be one of {', '.join(map(repr, DURABILITY_LEVELS))}, "
                f"got {self.durability!r}"
            )
        if self.confirmations is not None and not 0 <= self.confirmations <= 10_000:
            raise InvalidInputError(
                f"confirmations must be between 0 and 10000, got {self.confirmations}"
            )
        if self.network is not None:
            from chainml.chain.networks import network_preset

            network_preset(self.network)  # an unknown name fails here, listing the known ones
        if not 0 <= self.rpc_max_lag_blocks <= 1_000_000:
            raise InvalidInputError(
                f"rpc_max_lag_blocks must be between 0 and 1000000, got {self.rpc_max_lag_blocks}"
            )
        if not 0.1 <= self.rpc_health_interval <= 3600:
            raise InvalidInputError(
                "rpc_health_interval must be between 0.1 and 3600 seconds, "
                f"got {self.rpc_health_interval}"
            )

    def fee_policy(self) -> FeePolicy:
        """The transaction manager's policy from these settings (gwei become wei)."""
        from chainml.chain.fees import GWEI, FeePolicy

        def wei(gwei: float | None) -> int | None:
            return None if gwei is None else round(gwei * GWEI)

        preset: dict[str, int] = {}
        if self.network is not None:  # the chain's customary tip (Polygon refuses < 25 gwei)
            from chainml.chain.networks import network_preset

            chain = network_preset(self.network)
            preset = {
                "min_tip": chain.priority_fee,
                "max_tip": max(FeePolicy.max_tip, chain.priority_fee),
                "base_fee_headroom": chain.base_fee_multiplier,
            }
        return FeePolicy(
            **preset,
            max_fee_cap=wei(self.max_fee_gwei),
            daily_budget=wei(self.daily_budget_gwei),
            bump_after_seconds=self.fee_bump_seconds,
            bump_percent=self.fee_bump_percent,
            wait_seconds=self.tx_wait_seconds,
        )

    @property
    def backend(self) -> str:
        """``"rpc"`` when a node URL is configured, else ``"embedded"``."""
        return "rpc" if self.rpc else "embedded"

    def with_overrides(self, **overrides: Any) -> Settings:
        """Return a copy with the given non-None values replaced (CLI flags win)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


def load_settings(
    environ: dict[str, str] | None = None, config_file: Path | None = None
) -> Settings:
    """Read settings from ``chainml.toml`` (if present) and ``CHAINML_*`` variables."""
    env = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = _read_config_file(config_file or CONFIG_FILE)
    plain = (
        "data_dir", "rpc", "keystore", "chain_id", "durability", "confirmations", "network",
        "rpc_max_lag_blocks", "rpc_health_interval", "log_url",
    )  # fmt: skip
    for key in (*plain, *_FEE_KEYS):
        if (raw := env.get(f"CHAINML_{key.upper()}")) not in (None, ""):
            values[key] = raw
    if (raw := env.get("CHAINML_TRUSTED_LOGS")) not in (None, ""):
        values["trusted_logs"] = [entry.strip() for entry in str(raw).split(",") if entry.strip()]
    for key in ("private_key", "keystore_password"):
        if (raw := env.get(f"CHAINML_{key.upper()}")) not in (None, ""):
            values[key] = Secret(str(raw))
    return _coerce(values)


def _read_config_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        document = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise InvalidInputError(f"cannot read {path}: {err}") from err
    section = document.get("chainml", document)
    if not isinstance(section, dict):
        raise InvalidInputError(f"{path}: the [chainml] section must be a table")
    if "private_key" in section or "keystore_password" in section:
        raise InvalidInputError(
            f"{path}: secrets do not belong in a config file; set CHAINML_PRIVATE_KEY or "
            "CHAINML_KEYSTORE_PASSWORD in the environment instead"
        )
    return dict(section)


def _coerce(values: dict[str, Any]) -> Settings:
    known = set(Settings.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        raise InvalidInputError(f"unknown setting(s): {', '.join(unknown)}")
    if "data_dir" in values:
        values["data_dir"] = Path(values["data_dir"])
    if "keystore" in values:
        values["keystore"] = Path(values["keystore"])
    for key in ("chain_id", "confirmations", "rpc_max_lag_blocks", "fee_bump_percent"):
        if key in values:
            values[key] = _integer(values[key], key)
    for key in (
        "rpc_health_interval", "max_fee_gwei", "daily_budget_gwei", "fee_bump_seconds",
        "tx_wait_seconds",
    ):  # fmt: skip
        if key in values:
            values[key] = _number(values[key], key)
    if "rpc" in values and isinstance(values["rpc"], list | tuple):
        values["rpc"] = ",".join(str(url) for url in values["rpc"])  # a TOML list of URLs
    if "trusted_logs" in values:
        logs = values["trusted_logs"]
        if not isinstance(logs, list | tuple) or not all(isinstance(e, str) for e in logs):
            raise InvalidInputError(
                "trusted_logs must be a list of "
                f'"CHAIN_ID:ADDRESS[:CODEHASH]" strings, got {logs!r}'
            )
        values["trusted_logs"] = tuple(logs)
    return Settings(**values)


def _integer(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise InvalidInputError(f"{name} must be an integer, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"{name} must be an integer, got {value!r}") from err


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise InvalidInputError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"{name} must be a number, got {value!r}") from err
    if not 0 <= number < 1e12:  # also refuses NaN and infinity
        raise InvalidInputError(f"{name} must be between 0 and 1e12, got {value!r}")
    return number


def ensure_directory(path: Path) -> None:
    """Create the data directory on first use, but only inside an existing parent.

    A missing parent is most likely a typo; creating the whole path would silently start a
    new, empty chain somewhere unexpected.
    """
    if path.is_dir():
        return
    if path.exists():
        raise DataDirectoryError(str(path), "exists but is not a directory")
    if not path.parent.is_dir():
        raise DataDirectoryError(
            str(path), f"its parent directory {path.parent} does not exist (typo in the path?)"
        )
    path.mkdir(mode=0o700)
