"""Labelled monitoring data: real attacks executed on an EVM among seeded benign traffic.

:func:`generate` drives any :class:`~chainml.chain.Env` with at least 10 accounts (the
embedded chain, or anvil): it deploys an ERC-20 (chainml's ``PlainToken``), runs benign
traffic (transfers, bounded approvals to an exchange account that pulls from one holder at
a time, ether payments), and at seeded points executes

* **approval phishing**: an attacker deploys a drainer contract, victims grant it unlimited
  allowances, and it sweeps all their tokens to the attacker in one transaction;
* **rug pull (mint and dump)**: a token owner who minted a modest supply to holders mints
  itself a hundred times more and dumps most of it on the exchange;
* **re-entrancy drain**: holders keep ether in a vulnerable vault (it pays before it zeroes
  the balance); an attacker's contract deposits once and withdraws again from inside each
  payment, taking five times its deposit.

Every transaction gets a :class:`Label`: its scenario, its step, and whether it is a
harmful act an alert should name. :func:`write_csv` exports labels with features.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from chainml.chain import Env
from chainml.chain.backend import Receipt
from chainml.chain.compiler import compile_file
from chainml.contracts import load
from chainml.errors import InvalidInputError
from chainml.monitor.features import FEATURE_NAMES, TxFeatures

DRAINER_SOURCE = Path(__file__).parent / "contracts" / "Drainer.vy"
UNLIMITED = 2**256 - 1
VAULT_SOURCE = Path(__file__).parent / "contracts" / "Vault.vy"
REENTER_SOURCE = Path(__file__).parent / "contracts" / "Reenter.vy"
ATTACKS = ("approval_phishing", "rug_pull", "reentrancy")
ETHER = 10**18


@dataclass(frozen=True)
class Label:
    """What one transaction of a scenario is."""

    tx_hash: bytes
    block: int
    scenario: str  # "benign" or an attack name
    step: str
    malicious: bool  # an act an alert should name


@dataclass
class Scenario:
    """The labels of a generated run, in execution order."""

    seed: int
    labels: list[Label]

    def by_hash(self) -> dict[bytes, Label]:
        """Labels indexed by transaction hash."""
        return {label.tx_hash: label for label in self.labels}


class _Recorder:
    def __init__(self) -> None:
        self.labels: list[Label] = []

    def add(self, receipt: Receipt, scenario: str, step: str, malicious: bool = False) -> Receipt:
        self.labels.append(Label(receipt.tx_hash, receipt.block_number, scenario, step, malicious))
        return receipt


def generate(
    env: Env,
    *,
    seed: int = 0,
    benign: int = 60,
    attacks: Iterable[str] = ATTACKS,
    cache_dir: Path | None = None,
) -> Scenario:
    """Run ``benign`` background transactions with ``attacks`` at seeded points; label all."""
    wanted = list(attacks)
    unknown = set(wanted) - set(ATTACKS)
    if unknown:
        raise InvalidInputError(f"unknown attacks {sorted(unknown)}; known: {', '.join(ATTACKS)}")
    accounts = env.accounts
    if len(accounts) < 10:
        raise InvalidInputError(
            f"scenarios need 10 signing accounts, this chain has {len(accounts)}"
        )
    rng = random.Random(seed)
    rec = _Recorder()
    team, users, exchange = accounts[0], accounts[1:7], accounts[7]
    attacker, rugger = accounts[8], accounts[9]

    compiled = load("PlainToken", cache_dir)
    token = env.deploy(compiled, "Alpha", "ALP", sender=team)
    assert token.deployment is not None
    rec.add(token.deployment, "benign", "deploy_token")
    for user in users:
        rec.add(token.transact("mint", user, 1_000_000, sender=team), "benign", "mint")
    vault = env.deploy(compile_file(VAULT_SOURCE, cache_dir), sender=team)
    assert vault.deployment is not None
    rec.add(vault.deployment, "benign", "deploy_vault")
    for user in users:
        rec.add(vault.transact("deposit", value=2 * ETHER, sender=user), "benign", "deposit")

    # attacks at seeded points of the benign stream
    points = sorted(
        rng.sample(range(benign // 4, max(benign, benign // 4 + len(wanted))), len(wanted))
    )
    schedule = dict(zip(points, wanted, strict=True))
    for i in range(benign):
        _benign_step(env, rng, rec, token, users, exchange)
        attack = schedule.get(i)
        if attack == "approval_phishing":
            _phishing(env, rng, rec, token, users, attacker, cache_dir)
        elif attack == "rug_pull":
            _rug_pull(env, rng, rec, compiled, users, exchange, rugger)
        elif attack == "reentrancy":
            _reentrancy(env, rec, vault.address, attacker, cache_dir)
    return Scenario(seed, rec.labels)


def _benign_step(
    env: Env, rng: random.Random, rec: _Recorder, token: object, users: list[str], exchange: str
) -> None:
    from chainml.chain.contract import Contract

    assert isinstance(token, Contract)
    kind = rng.choice(("transfer", "transfer", "approve_pull", "ether"))
    a, b = rng.sample(users, 2)
    if kind != "ether" and token.call("balanceOf", a) < 10_000:
        kind = "ether"  # a drained victim has nothing left to send
    if kind == "transfer":
        rec.add(
            token.transact("transfer", b, rng.randint(1, 5_000), sender=a), "benign", "transfer"
        )
    elif kind == "approve_pull":
        amount = rng.randint(100, 10_000)
        rec.add(token.transact("approve", exchange, amount, sender=a), "benign", "approve")
        rec.add(
            token.transact("transferFrom", a, exchange, amount, sender=exchange),
            "benign",
            "exchange_pull",
        )
    else:
        rec.add(env.transact(b, value=rng.randint(1, 10**15), sender=a), "benign", "ether")


def _phishing(
    env: Env,
    rng: random.Random,
    rec: _Recorder,
    token: object,
    users: list[str],
    attacker: str,
    cache_dir: Path | None,
) -> None:
    from chainml.chain.contract import Contract

    assert isinstance(token, Contract)
    drainer = env.deploy(compile_file(DRAINER_SOURCE, cache_dir), sender=attacker)
    assert drainer.deployment is not None
    rec.add(drainer.deployment, "approval_phishing", "deploy_drainer")
    victims = rng.sample(users, 3)
    for victim in victims:
        receipt = token.transact("approve", drainer.address, UNLIMITED, sender=victim)
        rec.add(receipt, "approval_phishing", "approve", malicious=True)
    receipt = drainer.transact("sweep", token.address, victims, sender=attacker)
    rec.add(receipt, "approval_phishing", "sweep", malicious=True)


def _rug_pull(
    env: Env,
    rng: random.Random,
    rec: _Recorder,
    compiled: object,
    users: list[str],
    exchange: str,
    rugger: str,
) -> None:
    from chainml.chain.compiler import CompiledContract

    assert isinstance(compiled, CompiledContract)
    coin = env.deploy(compiled, "Rug", "RUG", sender=rugger)
    assert coin.deployment is not None
    rec.add(coin.deployment, "rug_pull", "deploy_token")
    for user in users:
        rec.add(coin.transact("mint", user, 10_000, sender=rugger), "rug_pull", "mint_holders")
    a, b = rng.sample(users, 2)
    rec.add(coin.transact("transfer", b, 500, sender=a), "rug_pull", "holder_transfer")
    spike = 100 * 10_000 * len(users)
    rec.add(coin.transact("mint", rugger, spike, sender=rugger), "rug_pull", "mint_spike")
    receipt = coin.transact("transfer", exchange, spike * 9 // 10, sender=rugger)
    rec.add(receipt, "rug_pull", "dump", malicious=True)


def _reentrancy(
    env: Env, rec: _Recorder, vault: str, attacker: str, cache_dir: Path | None
) -> None:
    thief = env.deploy(compile_file(REENTER_SOURCE, cache_dir), vault, sender=attacker)
    assert thief.deployment is not None
    rec.add(thief.deployment, "reentrancy", "deploy_attacker")
    receipt = thief.transact("attack", value=ETHER, sender=attacker)
    rec.add(receipt, "reentrancy", "drain", malicious=True)


def write_csv(path: Path, scenario: Scenario, features: dict[bytes, TxFeatures]) -> int:
    """Write one row per labelled transaction (labels, then features); return the row count."""
    rows = 0
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["tx_hash", "block", "scenario", "step", "malicious", *FEATURE_NAMES])
        for label in scenario.labels:
            f = features.get(label.tx_hash)
            values = list(f.vector()) if f is not None else [""] * len(FEATURE_NAMES)
            writer.writerow(
                [
                    "0x" + label.tx_hash.hex(),
                    label.block,
                    label.scenario,
                    label.step,
                    int(label.malicious),
                    *values,
                ]
            )
            rows += 1
    return rows
