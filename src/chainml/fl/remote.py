"""A participant in its own process (``chainml fl client``), for the gRPC engine.

The coordinator (``chainml fl run --engine grpc``, alias ``chainml fl server``) sends, with
every round's instructions, a small setup document: the model kind, the pooled
standardization, the local-training and privacy settings, the FederatedRounds address and the
admitted accounts. The participant reads its own data file, trains, and commits its update
from its own account: on the coordinator's embedded chain through the owner's loopback
endpoint (same data directory), or through ``--rpc`` with its own key.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from chainml.fl.local import LocalTraining
from chainml.fl.participant import ChainAccess, Committer, Participant
from chainml.fl.privacy import PrivacySettings
from chainml.models.dataset import FloatArray


def setup_document(
    options: Any, mean: FloatArray, scale: FloatArray, privacy: PrivacySettings | None,
    contract: str | None, accounts: list[str],
) -> str:  # fmt: skip
    """The JSON a remote participant needs to join (sent in every round's fit config)."""
    return json.dumps({
        "kind": options.kind, "mean": mean.tolist(), "scale": scale.tolist(),
        "training": asdict(options.training), "seed": options.seed,
        "privacy": asdict(privacy) if privacy else None,
        "contract": contract, "accounts": accounts,
    })  # fmt: skip


def participant_from_setup(
    setup: dict[str, Any], index: int, data_file: Path, data_dir: Path, rpc: str | None
) -> Participant:
    """Participant ``index`` on ``data_file``, as the coordinator's setup describes it."""
    committer = None
    if setup.get("contract"):
        account = setup["accounts"][index]
        committer = Committer(ChainAccess(str(data_dir), rpc, setup["contract"], account))
    return Participant(
        index=index, kind=setup["kind"], data_file=data_file,
        mean=np.asarray(setup["mean"]), scale=np.asarray(setup["scale"]),
        training=LocalTraining(**setup["training"]),
        privacy=PrivacySettings(**setup["privacy"]) if setup.get("privacy") else None,
        committer=committer, seed=int(setup["seed"]),
    )  # fmt: skip


def run_client(
    server: str, index: int, data_file: Path, data_dir: Path, *, rpc: str | None = None,
    root_certificates: Path | None = None,
) -> None:  # fmt: skip
    """Join the federation at ``server`` as participant ``index`` until it ends."""
    from flwr.client import NumPyClient, start_client

    class Remote(NumPyClient):  # type: ignore[misc]
        participant: Participant | None = None

        def fit(self, parameters: list[Any], config: dict[str, Any]) -> Any:
            if self.participant is None:
                self.participant = participant_from_setup(
                    json.loads(str(config["setup"])), index, data_file, data_dir, rpc
                )
            weights, metrics = self.participant.fit(list(parameters), int(config["server_round"]))
            return weights, self.participant.samples, metrics

    start_client(
        server_address=server, client=Remote().to_client(),
        insecure=root_certificates is None,
        root_certificates=root_certificates.read_bytes() if root_certificates else None,
    )  # fmt: skip
