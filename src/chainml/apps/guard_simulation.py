"""Streaming simulated payments through the guarded token, and what that shows.

:func:`stream_payments` plays a :class:`~chainml.models.simulator.Simulation` through a deployed
:class:`~chainml.apps.guard.GuardedToken`: every simulated account gets a deterministic key
(:func:`account_signers`) and some ETH for gas, the simulator's initial balances are minted,
and each transfer is signed by its sender and sent at its simulated time (plus whole days, see
:class:`~chainml.apps.guard_clock.ChainClock`). The same transfers go through a plain ERC-20 of
the same shape (``PlainToken.vy``) in the same run: the gas baseline. The result is a
:class:`GuardReport`: frauds held by pattern, legitimate transfers held, failed model calls,
gas per transfer from receipts, and whether the on-chain features equal the simulator's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from eth_utils import keccak

from chainml import contracts
from chainml.apps.guard import GuardedToken, HoldReason, TransferResult
from chainml.apps.guard_clock import ChainClock
from chainml.chain import Contract, Env
from chainml.chain.accounts import Signer
from chainml.errors import InvalidInputError
from chainml.models.simulator import PATTERNS, Simulation

GAS_FUNDING = 10**17  # wei per sending account: 0.1 ETH, far more than its transfers burn
PLAIN_GAS = 120_000
_KEY_DOMAIN = b"chainml.guard.simulation.account"


def account_signers(seed: int, count: int) -> list[Signer]:
    """Deterministic keys for simulated accounts 0..count-1: keccak(domain, seed, index)."""
    if seed < 0 or count < 0:
        raise InvalidInputError(f"seed and count must be >= 0, got {seed} and {count}")
    return [
        Signer(bytes(keccak(_KEY_DOMAIN + seed.to_bytes(32, "big") + i.to_bytes(32, "big"))))
        for i in range(count)
    ]


@dataclass(frozen=True)
class GasSummary:
    """gasUsed of a set of transactions (from receipts)."""

    count: int
    mean: float
    p50: int
    p99: int

    @classmethod
    def of(cls, values: Sequence[int]) -> GasSummary:
        """Summarize ``values`` (zeros when there are none)."""
        if not values:
            return cls(0, 0.0, 0, 0)
        data = np.asarray(values)
        p50, p99 = np.percentile(data, [50, 99], method="nearest")
        return cls(len(values), float(data.mean()), int(p50), int(p99))


@dataclass
class GuardReport:
    """What streaming a simulation through the guarded token showed."""

    transfers: int = 0  # simulated transfers
    sent: int = 0  # sent through the token (screened)
    skipped: int = 0  # not sent: a held incoming transfer left the sender short
    held: int = 0
    held_by_reason: dict[str, int] = field(default_factory=dict)
    frauds: dict[str, tuple[int, int]] = field(default_factory=dict)  # pattern -> (held, sent)
    legit_held: int = 0
    legit_sent: int = 0
    features_checked: int = 0
    features_equal: int = 0  # on-chain features == the simulator's row
    late: int = 0  # blocks that missed their simulated time (by a wall-clock tick)
    guarded_gas: list[int] = field(default_factory=list)
    passed_gas: list[int] = field(default_factory=list)
    held_gas: list[int] = field(default_factory=list)
    plain_gas: list[int] = field(default_factory=list)
    held_ids: list[int] = field(default_factory=list)
    sent_transfers: list[tuple[int, int, int]] = field(default_factory=list)  # (from, to, amount)
    seconds: float = 0.0

    @property
    def fraud_held(self) -> int:
        """Fraudulent transfers held, all patterns."""
        return sum(held for held, _ in self.frauds.values())

    @property
    def fraud_sent(self) -> int:
        """Fraudulent transfers sent, all patterns."""
        return sum(sent for _, sent in self.frauds.values())

    @property
    def model_failures(self) -> int:
        """Transfers held because the model call failed."""
        return self.held_by_reason.get(HoldReason.MODEL_FAILED.name.lower(), 0)

    def gas(self) -> dict[str, GasSummary]:
        """GasUsed summaries: every guarded transfer, passed, held, and the plain ERC-20."""
        return {
            "guarded": GasSummary.of(self.guarded_gas),
            "guarded (passed)": GasSummary.of(self.passed_gas),
            "guarded (held)": GasSummary.of(self.held_gas),
            "plain ERC-20": GasSummary.of(self.plain_gas),
        }

    def facts(self) -> dict[str, Any]:
        """JSON-ready numbers."""
        return {
            "transfers": self.transfers,
            "sent": self.sent,
            "skipped": self.skipped,
            "held": self.held,
            "held_by_reason": dict(self.held_by_reason),
            "frauds": {p: {"held": h, "sent": s} for p, (h, s) in self.frauds.items()},
            "fraud_held": self.fraud_held,
            "fraud_sent": self.fraud_sent,
            "legit_held": self.legit_held,
            "legit_sent": self.legit_sent,
            "model_failures": self.model_failures,
            "features_checked": self.features_checked,
            "features_equal": self.features_equal,
            "late": self.late,
            "gas": {name: vars(summary) for name, summary in self.gas().items()},
            "seconds": round(self.seconds, 3),
        }


@dataclass
class SimulationAccounts:
    """The simulated accounts' keys, an Env that signs for them, and their addresses."""

    env: Env
    addresses: list[str]

    @classmethod
    def create(cls, env: Env, simulation: Simulation) -> SimulationAccounts:
        """Keys for every account the simulation mentions (same backend as ``env``)."""
        highest = max(
            max(simulation.initial_balances, default=0),
            max((max(t.sender, t.recipient) for t in simulation.transfers), default=0),
        )
        signers = account_signers(simulation.seed, highest + 1)
        # A second Env on the same backend: it only signs; closing it would close the chain.
        return cls(Env(env.backend, signers, data_dir=env.data_dir), [s.address for s in signers])

    def fund(self, env: Env, simulation: Simulation, amount: int = GAS_FUNDING) -> None:
        """Send ``amount`` wei from ``env``'s sender to every account that sends a transfer."""
        for index in sorted({t.sender for t in simulation.transfers}):
            env.transact(self.addresses[index], value=amount, gas=21_000)


def deploy_plain_token(env: Env) -> Contract:
    """The gas baseline: a plain ERC-20 of the same shape as the guarded token."""
    return env.deploy(contracts.load("PlainToken", _cache(env)), "Plain Dollar", "pUSD")


def _cache(env: Env) -> Any:
    return env.data_dir / "cache" / "vyper" if env.data_dir else None


def mint_initial(
    token: GuardedToken, plain: Contract | None, simulation: Simulation, addresses: list[str]
) -> None:
    """Mint the simulation's initial balances on both tokens, then seal the guarded supply."""
    balances = [(addresses[a], amount) for a, amount in sorted(simulation.initial_balances.items())]
    token.mint(balances)
    if plain is not None:
        for start in range(0, len(balances), 200):
            chunk = balances[start : start + 200]
            plain.mint_batch([a for a, _ in chunk], [v for _, v in chunk])
    token.seal_supply()


def stream_payments(
    token: GuardedToken,
    simulation: Simulation,
    accounts: SimulationAccounts,
    *,
    check_features: bool = True,
    progress: Callable[[int], None] | None = None,
) -> GuardReport:
    """Send every simulated transfer through ``token`` at its simulated time (plus whole days).

    Balances must already be minted (:func:`mint_initial`). A transfer whose sender no longer
    has the amount (an incoming transfer of its is held) is skipped and counted. With
    ``check_features`` the token's ``features_at`` view is compared with the simulator's row
    before each transfer; otherwise only held transfers are compared (their event carries the
    features).
    """
    signing = token.as_env(accounts.env)
    addresses = accounts.addresses
    balance = {a: token.balance_of(addresses[a]) for a in simulation.initial_balances}
    clock = ChainClock(token.env)
    clock.align(simulation.transfers[0].timestamp)
    report = GuardReport(transfers=len(simulation.transfers))
    report.frauds = {p: (0, 0) for p in PATTERNS[1:]}
    started = time.perf_counter()
    for index, transfer in enumerate(simulation.transfers):
        if transfer.amount > balance.get(transfer.sender, 0):
            report.skipped += 1
            _tick(progress)
            continue
        sender, recipient = addresses[transfer.sender], addresses[transfer.recipient]
        expected = tuple(simulation.features[index].tolist())
        clock.pin(transfer.timestamp)
        if check_features:
            at = transfer.timestamp + clock.shift
            report.features_checked += 1
            report.features_equal += token.features_at(sender, recipient, transfer.amount, at) == (
                expected
            )
        result = signing.transfer(recipient, transfer.amount, sender=sender)
        report.sent += 1
        report.sent_transfers.append((transfer.sender, transfer.recipient, transfer.amount))
        report.guarded_gas.append(result.receipt.gas_used)
        balance[transfer.sender] -= transfer.amount
        if result.held:
            _held(report, result, expected, check_features)
        else:
            balance[transfer.recipient] = balance.get(transfer.recipient, 0) + transfer.amount
            report.passed_gas.append(result.receipt.gas_used)
        _count(report, transfer.pattern, transfer.is_fraud, result.held)
        _tick(progress)
    clock.finish()
    report.late = clock.late
    report.seconds = time.perf_counter() - started
    return report


def _held(
    report: GuardReport, result: TransferResult, expected: tuple[int, ...], checked: bool
) -> None:
    report.held += 1
    report.held_gas.append(result.receipt.gas_used)
    report.held_ids.append(result.held_id or 0)
    name = result.reason.name.lower() if result.reason else "unknown"
    report.held_by_reason[name] = report.held_by_reason.get(name, 0) + 1
    if not checked:  # the Held event carries the features the model saw
        report.features_checked += 1
        report.features_equal += result.features == expected


def replay_plain(
    plain: Contract,
    report: GuardReport,
    accounts: SimulationAccounts,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Send the transfers the guarded token took through the plain ERC-20; record their gas.

    A plain token's gas does not depend on time, so the replay runs after the stream, in the
    same order, from the same initial balances.
    """
    signing = Contract(accounts.env, plain.address, plain.abi, plain.name)
    addresses = accounts.addresses
    for sender, recipient, amount in report.sent_transfers:
        receipt = signing.transact(
            "transfer", addresses[recipient], amount, sender=addresses[sender], gas=PLAIN_GAS
        )
        report.plain_gas.append(receipt.gas_used)
        _tick(progress)


def _count(report: GuardReport, pattern: str, is_fraud: bool, held: bool) -> None:
    if is_fraud:
        was_held, sent = report.frauds[pattern]
        report.frauds[pattern] = (was_held + held, sent + 1)
    else:
        report.legit_sent += 1
        report.legit_held += held


def _tick(progress: Callable[[int], None] | None) -> None:
    if progress is not None:
        progress(1)
