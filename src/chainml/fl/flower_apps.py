"""The Flower side: a strategy wrapper that keeps the chain record, the client, the apps.

:class:`ChainStrategy` wraps any Flower strategy (FedAvg, FedMedian, FedTrimmedAvg, Krum): it
commits the initial and every aggregated global model, and drops updates the chain does not
back (:class:`~chainml.fl.coordinator.RoundRecorder`) before the wrapped strategy merges them.
:func:`build_apps` makes the ``ServerApp``/``ClientApp`` pair, with SecAgg+ through Flower's
legacy workflow when asked. Import this module only with the ``fl`` extra installed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flwr.client import ClientApp, NumPyClient
from flwr.common import (
    Context,
    EvaluateIns,
    EvaluateRes,
    FitIns,
    FitRes,
    Parameters,
    Scalar,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.server import ServerApp, ServerAppComponents, ServerConfig
from flwr.server.client_manager import ClientManager
from flwr.server.client_proxy import ClientProxy
from flwr.server.strategy import FedAvg, FedMedian, FedTrimmedAvg, Krum, Strategy

from chainml.errors import InvalidInputError
from chainml.fl.coordinator import ReceivedUpdate, RoundRecorder
from chainml.fl.params import Weights
from chainml.fl.participant import Participant

STRATEGIES = ("fedavg", "fedmedian", "trimmed", "krum")
#: SecAgg+ (Flower's legacy workflow); num_shares must be odd in Flower 1.42
SECAGG_SHARES = 3
SECAGG_THRESHOLD = 2


def make_strategy(name: str, participants: int, initial: Weights, **common: Any) -> Strategy:
    """The Flower strategy ``name`` for ``participants`` (all take part in every round)."""
    base: dict[str, Any] = {
        "fraction_fit": 1.0, "fraction_evaluate": 0.0, "min_fit_clients": participants,
        "min_available_clients": participants, "min_evaluate_clients": 0,
        "initial_parameters": ndarrays_to_parameters(initial), **common,
    }  # fmt: skip
    if name == "fedavg":
        return FedAvg(**base)
    if name == "fedmedian":
        return FedMedian(**base)
    if name == "trimmed":
        return FedTrimmedAvg(beta=0.2, **base)
    if name == "krum":
        return Krum(num_malicious_clients=1, num_clients_to_keep=0, **base)
    raise InvalidInputError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")


class ChainStrategy(Strategy):  # type: ignore[misc]  # Flower's base class is untyped here
    """``inner`` with the chain record kept by ``recorder`` around every round."""

    def __init__(self, inner: Strategy, recorder: RoundRecorder, *, secagg: bool) -> None:
        super().__init__()
        self.inner = inner
        self.recorder = recorder
        self.secagg = secagg
        self.final: Weights | None = None

    def __repr__(self) -> str:
        return f"ChainStrategy({self.inner!r})"

    def initialize_parameters(self, client_manager: ClientManager) -> Parameters | None:
        """The wrapped strategy's initial model, committed as round 0."""
        parameters = self.inner.initialize_parameters(client_manager)
        if parameters is not None:
            self.recorder.round_started()
            self.recorder.commit_global(0, parameters_to_ndarrays(parameters))
        return parameters

    def configure_fit(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> list[tuple[ClientProxy, FitIns]]:
        """The wrapped strategy's fit instructions; the round's clock starts."""
        self.recorder.round_started()
        return list(self.inner.configure_fit(server_round, parameters, client_manager))

    def aggregate_fit(
        self,
        server_round: int,
        results: list[tuple[ClientProxy, FitRes]],
        failures: list[tuple[ClientProxy, FitRes] | BaseException],
    ) -> tuple[Parameters | None, dict[str, Scalar]]:
        """Merge the updates the chain backs; commit the merged model's hash."""
        received = [
            ReceivedUpdate(
                account=str(res.metrics.get("account", "")),
                claimed_hash=str(res.metrics.get("update_hash", "")),
                samples=int(res.num_examples),
                weights=None if self.secagg else parameters_to_ndarrays(res.parameters),
            )
            for _, res in results
        ]
        verdicts = self.recorder.check_updates(server_round, received)
        accepted = [r for r, ok in zip(results, verdicts, strict=True) if ok]
        if not accepted:
            return None, {}
        parameters, metrics = self.inner.aggregate_fit(server_round, accepted, failures)
        if parameters is not None:
            self.final = parameters_to_ndarrays(parameters)
            self.recorder.commit_global(server_round, self.final)
        return parameters, metrics

    def configure_evaluate(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> list[tuple[ClientProxy, EvaluateIns]]:
        """No federated evaluation: the coordinator evaluates centrally."""
        return []

    def aggregate_evaluate(
        self,
        server_round: int,
        results: list[tuple[ClientProxy, EvaluateRes]],
        failures: list[tuple[ClientProxy, EvaluateRes] | BaseException],
    ) -> tuple[float | None, dict[str, Scalar]]:
        """Nothing to merge (no federated evaluation)."""
        return None, {}

    def evaluate(
        self, server_round: int, parameters: Parameters
    ) -> tuple[float, dict[str, Scalar]] | None:
        """The wrapped strategy's central evaluation, kept in the round log."""
        result = self.inner.evaluate(server_round, parameters)
        if result is not None and server_round > 0 and self.recorder.log:
            self.recorder.log[-1].validation = {k: float(v) for k, v in result[1].items()}
        return result  # type: ignore[no-any-return]


class FlowerParticipant(NumPyClient):  # type: ignore[misc]
    """Flower's view of a :class:`Participant`."""

    def __init__(self, participant: Participant) -> None:
        self.participant = participant

    def fit(
        self, parameters: list[Any], config: dict[str, Scalar]
    ) -> tuple[list[Any], int, dict[str, Scalar]]:
        """Train one round from ``parameters``; return weights, samples and metrics."""
        round_ = int(config["server_round"])
        weights, metrics = self.participant.fit(list(parameters), round_)
        return weights, self.participant.samples, metrics


@dataclass(frozen=True)
class Apps:
    """The pair Flower runs, and the strategy that holds the result."""

    server: ServerApp
    client: ClientApp
    strategy: ChainStrategy


def build_apps(
    strategy: ChainStrategy,
    participant_of: Callable[[int], Participant],
    rounds: int,
    *,
    secagg: bool = False,
    max_samples: int = 1000,
) -> Apps:
    """The ServerApp (plain, or SecAgg+ in the legacy workflow) and the ClientApp."""

    def client_fn(context: Context) -> Any:
        index = int(context.node_config["partition-id"])
        return FlowerParticipant(participant_of(index)).to_client()

    config = ServerConfig(num_rounds=rounds)
    if not secagg:
        server = ServerApp(
            server_fn=lambda _: ServerAppComponents(strategy=strategy, config=config)
        )
        return Apps(server, ClientApp(client_fn=client_fn), strategy)

    from flwr.client.mod import secaggplus_mod
    from flwr.server import LegacyContext
    from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow

    server = ServerApp()

    @server.main()  # type: ignore[untyped-decorator]
    def main(grid: Any, context: Context) -> None:
        legacy = LegacyContext(context=context, config=config, strategy=strategy)
        workflow = DefaultWorkflow(
            fit_workflow=SecAggPlusWorkflow(
                num_shares=SECAGG_SHARES, reconstruction_threshold=SECAGG_THRESHOLD,
                max_weight=float(max_samples), timeout=60.0,
            )
        )  # fmt: skip
        workflow(grid, legacy)

    return Apps(server, ClientApp(client_fn=client_fn, mods=[secaggplus_mod]), strategy)


def serve(strategy: Strategy, rounds: int, address: str, tls_dir: str | None = None) -> float:
    """Serve the rounds on ``address`` (Flower's gRPC server) until they are done; seconds.

    Participants connect from their own processes or machines (``chainml fl client``). With
    ``tls_dir`` (``ca.crt``, ``server.crt``, ``server.key``) the connection is TLS.
    """
    from pathlib import Path

    from flwr.server import start_server

    certificates = None
    if tls_dir is not None:
        folder = Path(tls_dir)
        certificates = tuple(
            (folder / name).read_bytes() for name in ("ca.crt", "server.crt", "server.key")
        )
    start = time.perf_counter()
    start_server(
        server_address=address, config=ServerConfig(num_rounds=rounds), strategy=strategy,
        certificates=certificates,
    )  # fmt: skip
    return time.perf_counter() - start


def simulate(apps: Apps, participants: int, *, cpus: int = 2) -> float:
    """Run the apps in Flower's simulation engine (Ray); return the wall-clock seconds.

    ``cpus`` is Ray's logical CPU count: one participant actor per CPU, so with ``cpus`` =
    participants every participant trains (and commits) at the same time.
    """
    from flwr.simulation import run_simulation

    start = time.perf_counter()
    run_simulation(
        server_app=apps.server,
        client_app=apps.client,
        num_supernodes=participants,
        backend_config={
            "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
            "init_args": {
                "num_cpus": cpus,
                "include_dashboard": False,
                "logging_level": "warning",
                "log_to_driver": False,
            },
        },
    )
    return time.perf_counter() - start
