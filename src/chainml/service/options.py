"""What the scoring service is told at startup: model source, anchoring policy, auth, limits."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from chainml.config import Secret
from chainml.errors import InvalidInputError
from chainml.governance.registry import DEFAULT_USE

API_KEYS_VARIABLE = "CHAINML_API_KEYS"


@dataclass(frozen=True)
class ServiceOptions:
    """The service's own settings (the chain and data directory come from ``Settings``).

    ``model_id`` pins one stored model (no registry, no hot swap); otherwise the service
    serves the model the chain's registry approves for ``use`` and follows its approvals.
    ``anchor_every``/``anchor_seconds`` are the anchoring policy; ``anchor=False`` turns
    anchoring off (decisions are still logged). Write endpoints need one of ``api_keys``;
    read endpoints too unless ``public_reads``.
    """

    use: str = DEFAULT_USE
    model_id: str | None = None
    anchor: bool = True
    anchor_every: int = 10_000
    anchor_seconds: float = 60.0
    api_keys: tuple[Secret, ...] = field(default=(), repr=False)
    public_reads: bool = True
    max_batch: int = 10_000  # records per /v1/score/batch request (413 beyond)
    max_body_bytes: int = 16 * 1024 * 1024  # any request body (413 beyond)
    read_timeout: float = 10.0  # s for a request's headers, and for each read of its body
    max_commit: int = 50_000  # decisions per group-commit batch
    writer_process: bool = True  # append in a child process (the second core), not a thread
    watch_seconds: float = 2.0  # how often the registry is polled for approvals
    max_proof_jobs: int = 4  # zk proof jobs waiting behind the running one (503 beyond)

    def __post_init__(self) -> None:
        problems = {
            "use must not be empty": bool(self.use),
            "anchor_every must be at least 1": self.anchor_every >= 1,
            "anchor_seconds must be positive": self.anchor_seconds > 0,
            "max_batch must be at least 1": self.max_batch >= 1,
            "max_body_bytes must be at least 1 KiB": self.max_body_bytes >= 1024,
            "read_timeout must be positive": self.read_timeout > 0,
            "max_commit must be at least max_batch": self.max_commit >= self.max_batch,
            "watch_seconds must be positive": self.watch_seconds > 0,
            "max_proof_jobs must be at least 1": self.max_proof_jobs >= 1,
        }
        failed = [problem for problem, ok in problems.items() if not ok]
        if failed:
            raise InvalidInputError(f"invalid service options: {'; '.join(failed)}")


def api_keys_from(
    given: tuple[str, ...], environ: Mapping[str, str] | None = None
) -> tuple[Secret, ...]:
    """The API keys: those ``given`` (``--api-key``), plus comma-separated ``CHAINML_API_KEYS``."""
    env = os.environ if environ is None else environ
    keys = [*given, *env.get(API_KEYS_VARIABLE, "").split(",")]
    cleaned = [key.strip() for key in keys if key.strip()]
    short = [key for key in cleaned if len(key) < 16]
    if short:
        raise InvalidInputError(
            f"{len(short)} API key(s) shorter than 16 characters; use long random keys "
            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    return tuple(Secret(key) for key in dict.fromkeys(cleaned))
