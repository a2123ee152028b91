"""Running a federation (``chainml fl run``): chain record, Flower simulation, stored model.

:func:`run_federation` does, in order: pool the participants' feature statistics into one
standardization (each sends its count, sum and sum of squares; nothing else leaves it),
deploy a :mod:`FederatedRounds <chainml.fl.rounds>` record on the chain of the data
directory and admit the participants (embedded chain: its development accounts 1..N; the
coordinator and governor is account 0), run the rounds in Flower's simulation engine, and
turn the last global model into a chainml model of the same kind: thresholded and evaluated on
the coordinator's validation and test parts like centrally trained models, exported to ONNX,
carded (with a ``federation`` section: contract, rounds, participants, privacy budget) and
stored. The run record (``runs/<contract>.json`` in the federation directory) keeps every
round's hashes, gas and times for ``chainml fl audit`` and the benchmark.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chainml.config import Settings, load_settings
from chainml.errors import InvalidInputError
from chainml.fl.coordinator import RoundRecorder
from chainml.fl.federation import Federation, coordinator_split, load_federation
from chainml.fl.local import LocalTraining
from chainml.fl.outcome import finish, options_record, privacy_record
from chainml.fl.params import KINDS, Weights, initial_weights
from chainml.fl.participant import ChainAccess, Committer, Participant, Poison
from chainml.fl.privacy import PrivacySettings, epsilon, noise_for_epsilon
from chainml.models.dataset import FloatArray

RUN_FORMAT = "chainml.federation-run/1"


@dataclass(frozen=True)
class RunOptions:
    """How to run a federation."""

    rounds: int = 5
    kind: str = "lr"
    strategy: str = "fedavg"
    hidden: int = 16
    training: LocalTraining = field(default_factory=LocalTraining)
    dp_epsilon: float | None = None  # target epsilon; None: no differential privacy
    dp_clip: float = 1.0
    dp_delta: float = 1e-5
    secagg: bool = False
    poison: dict[int, Poison] = field(default_factory=dict)  # experiments only
    dropouts: dict[int, tuple[int, ...]] = field(default_factory=dict)  # index -> rounds
    on_chain: bool = True
    save: bool = True
    seed: int = 0
    resamples: int = 200
    actors: int | None = None  # simulation: participants training at once (default: all)
    engine: str = "simulation"  # or "grpc": participants connect over the network
    address: str = "127.0.0.1:9092"  # where the grpc engine listens
    tls_dir: str | None = None  # grpc engine TLS: ca.crt, server.crt, server.key
    contract: str | None = None  # a FederatedRounds whose governor (a vote) admitted them


@dataclass
class FederationResult:
    """What a run produced."""

    federation: Federation
    options: RunOptions
    weights: Weights
    record: dict[str, Any]
    trained: Any = None  # chainml.models.train.TrainedModel
    artifact: Any = None  # chainml.models.artifacts.ModelArtifact when saved
    record_path: Path | None = None

    @property
    def test_metrics(self) -> dict[str, Any]:
        """The final model's metrics on the coordinator's test part."""
        return dict(self.trained.metrics) if self.trained is not None else {}


def pooled_standardization(federation: Federation) -> tuple[FloatArray, FloatArray]:
    """Mean and scale of all participants' rows, from each one's count, sum and squares."""
    from chainml.fl.data import read_participant_file

    count, total, squares = 0, 0.0, 0.0
    for index in range(len(federation.participants)):
        _, x, _ = read_participant_file(federation.participant_file(index))
        count += x.shape[0]
        total = total + x.sum(axis=0)
        squares = squares + (x * x).sum(axis=0)
    mean = np.asarray(total / count, dtype=np.float64)
    scale = np.sqrt(np.maximum(np.asarray(squares / count) - mean * mean, 0.0))
    scale[scale == 0.0] = 1.0
    return mean, scale


def _privacy(options: RunOptions) -> tuple[PrivacySettings | None, float | None]:
    if options.dp_epsilon is None:
        return None, None
    sigma = noise_for_epsilon(options.dp_epsilon, options.rounds, options.dp_delta)
    settings = PrivacySettings(options.dp_clip, sigma, options.dp_delta)
    return settings, epsilon(sigma, options.rounds, options.dp_delta)


def _check(options: RunOptions, participants: int) -> None:
    if options.kind not in KINDS:
        raise InvalidInputError(f"--model {options.kind!r}: use {' or '.join(KINDS)}")
    if options.rounds < 1:
        raise InvalidInputError(f"--rounds must be at least 1, got {options.rounds}")
    if options.secagg and options.strategy != "fedavg":
        raise InvalidInputError(
            f"--secagg sums masked updates, so the coordinator never sees one: robust "
            f"strategies ({options.strategy}) need the individual updates; use fedavg"
        )
    if options.engine not in ("simulation", "grpc"):
        raise InvalidInputError(f"unknown engine {options.engine!r}; use simulation or grpc")
    if options.secagg and options.engine != "simulation":
        raise InvalidInputError("--secagg runs in the simulation engine only")
    if options.secagg and participants < 3:
        raise InvalidInputError("--secagg needs at least 3 participants (3 shares, threshold 2)")


def run_federation(
    data_dir: Path, task: str, options: RunOptions | None = None,
    settings: Settings | None = None,
) -> FederationResult:  # fmt: skip
    """Run federation ``task`` (see the module docstring)."""
    from chainml.fl.flower_env import configure_flower

    options = options or RunOptions()
    data_dir = Path(data_dir)
    federation = load_federation(data_dir, task)
    count = len(federation.participants)
    _check(options, count)
    configure_flower(data_dir)
    split = coordinator_split(federation, data_dir)
    names = split.fit.feature_names
    mean, scale = pooled_standardization(federation)
    privacy, spent = _privacy(options)
    initial = initial_weights(options.kind, len(names), options.hidden, options.seed)
    settings = (settings or load_settings()).with_overrides(data_dir=data_dir)

    env = None
    rounds_contract = None
    accounts: list[str] = []
    if options.on_chain:
        from chainml.chain import connect
        from chainml.fl.rounds import FederatedRounds

        env = connect(settings, serve=settings.rpc is None)
        if len(env.accounts) < count + 1:
            env.close()
            raise InvalidInputError(
                f"{count} participants need {count + 1} accounts on this chain (a coordinator "
                f"and one each); it has {len(env.accounts)}"
            )
        coordinator, accounts = env.accounts[0], env.accounts[1 : count + 1]
        try:
            if options.contract is None:
                rounds_contract = FederatedRounds.deploy(
                    env, governor=coordinator, coordinator=coordinator, max_rounds=options.rounds
                )
                for account in accounts:
                    rounds_contract.admit(account)
            else:
                rounds_contract = FederatedRounds.at(env, options.contract)
                rounds_contract.check_ready(coordinator, accounts, options.rounds)
        except BaseException:
            env.close()
            raise
    try:
        result = _simulate(
            federation, options, split, mean, scale, privacy, initial, rounds_contract,
            accounts, settings,
        )  # fmt: skip
        result.record["privacy"] = privacy_record(options, privacy, spent)
        if env is not None and rounds_contract is not None:
            result.record["chain"] = {
                "chain_id": env.chain_id, "contract": rounds_contract.address,
                "deploy_block": rounds_contract.contract.deployment.block_number
                if rounds_contract.contract.deployment else 0,
                "governor": str(rounds_contract.contract.call("governor")),
                "coordinator": env.accounts[0],
                "participants": accounts,
            }  # fmt: skip
        finish(result, data_dir, split, mean, scale)
    finally:
        if env is not None:
            env.close()
    return result


def _simulate(
    federation: Federation, options: RunOptions, split: Any, mean: FloatArray,
    scale: FloatArray, privacy: PrivacySettings | None, initial: Weights,
    rounds_contract: Any, accounts: list[str], settings: Settings,
) -> FederationResult:  # fmt: skip
    from chainml.fl import flower_apps

    names = split.fit.feature_names
    recorder = RoundRecorder(
        rounds_contract, kind=options.kind, feature_names=names, mean=mean, scale=scale,
        coordinator=rounds_contract.contract.env.accounts[0] if rounds_contract else None,
        # participants send their commitments in the background (the first one connects to
        # the chain first): wait for them; the wait ends as soon as every one is there
        commit_wait=30.0 if settings.rpc is None else 60.0,
    )  # fmt: skip
    z_val = split.validation.features
    y_val = split.validation.labels

    def evaluate_fn(round_: int, weights: list[Any], _: Any) -> tuple[float, dict[str, Any]]:
        from chainml.fl.local import logits
        from chainml.models.metrics import average_precision

        scores = logits(options.kind, list(weights), (z_val - mean) / scale)
        accuracy = float(np.mean((scores >= 0) == (y_val == 1)))
        return 1.0 - accuracy, {"accuracy": accuracy, "pr_auc": average_precision(y_val, scores)}

    setup = ""
    if options.engine == "grpc":
        from chainml.fl.remote import setup_document

        setup = setup_document(
            options, mean, scale, privacy, rounds_contract.address if rounds_contract else None,
            accounts,
        )  # fmt: skip

    def fit_config(round_: int) -> dict[str, Any]:
        return {"server_round": round_, "setup": setup}

    inner = flower_apps.make_strategy(
        options.strategy, len(federation.participants), initial,
        on_fit_config_fn=fit_config, evaluate_fn=evaluate_fn,
    )  # fmt: skip
    strategy = flower_apps.ChainStrategy(inner, recorder, secagg=options.secagg)
    factory = ParticipantFactory(
        federation=federation, options=options, mean=mean, scale=scale, privacy=privacy,
        access=[
            ChainAccess(str(settings.data_dir), settings.rpc, rounds_contract.address, a)
            for a in accounts
        ] if rounds_contract is not None else [],
    )  # fmt: skip
    max_rows = max(int(p["rows"]) for p in federation.participants)
    if options.engine == "grpc":
        seconds = flower_apps.serve(strategy, options.rounds, options.address, options.tls_dir)
    else:
        apps = flower_apps.build_apps(
            strategy, factory, options.rounds, secagg=options.secagg, max_samples=max_rows
        )
        count = len(federation.participants)
        seconds = flower_apps.simulate(apps, count, cpus=options.actors or count)
    if strategy.final is None:
        raise InvalidInputError("the federation produced no model (every update was rejected)")
    record = {
        "format": RUN_FORMAT,
        "task": federation.task,
        "options": options_record(options),
        "seconds": seconds,
        "rounds": [asdict(entry) for entry in recorder.log],
        "final_hash": recorder.hash_of(strategy.final),
    }
    return FederationResult(federation, options, strategy.final, record)


@dataclass
class ParticipantFactory:
    """Makes (once per worker process) the :class:`Participant` of an index."""

    federation: Federation
    options: RunOptions
    mean: FloatArray
    scale: FloatArray
    privacy: PrivacySettings | None
    access: list[ChainAccess]
    #: names this run in every worker: Flower unpickles the factory afresh for each round, so
    #: ``id(self)`` changed every round and each round built a new participant (data re-read,
    #: chain connection, contract compiled and accounts derived again, random stream restarted)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __call__(self, index: int) -> Participant:
        """The participant of ``index`` in this process (one per run, kept across rounds)."""
        key = (self.federation.path.as_posix(), index, self.run_id)
        cached = _PARTICIPANTS.get(key)
        if cached is None:
            cached = Participant(
                index=index, kind=self.options.kind,
                data_file=self.federation.participant_file(index), mean=self.mean,
                scale=self.scale, training=self.options.training, privacy=self.privacy,
                poison=self.options.poison.get(index),
                committer=Committer(self.access[index]) if self.access else None,
                seed=self.options.seed, drop_in=self.options.dropouts.get(index, ()),
            )  # fmt: skip
            _PARTICIPANTS[key] = cached
        return cached


#: Participants by (federation, index, run) in this worker process.
_PARTICIPANTS: dict[tuple[str, int, str], Participant] = {}
