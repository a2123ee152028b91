"""The governed path with a trained model, and simulated payments streamed through the token."""

from __future__ import annotations

import pytest

from chainml.apps.demo.screening import simulate_guard, train_screening_model
from chainml.apps.guard import GuardedToken, HoldReason
from chainml.apps.guard_governance import compile_model_contract, install_model
from chainml.apps.guard_simulation import GasSummary, account_signers
from chainml.chain import Env
from chainml.errors import VerificationError
from chainml.governance import Governor, ModelRegistry, ModelStatus, ProposalState
from chainml.governance.passing import ProposalNotPassedError, pass_proposal
from chainml.models.artifacts import ModelArtifact
from chainml.models.simulator import PATTERNS, simulate_payments


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> ModelArtifact:
    return train_screening_model(tmp_path_factory.mktemp("guard-models"), rows=4_000, seed=3)


def test_account_keys_are_deterministic() -> None:
    first = [s.address for s in account_signers(5, 3)]
    assert first == [s.address for s in account_signers(5, 3)]
    assert len(set(first + [s.address for s in account_signers(6, 3)])) == 6


def test_gas_summary() -> None:
    assert GasSummary.of([]) == GasSummary(0, 0.0, 0, 0)
    summary = GasSummary.of(list(range(1, 101)))
    assert (summary.count, summary.mean, summary.p50, summary.p99) == (100, 50.5, 51, 99)


def test_a_model_reaches_the_token_only_through_votes(env: Env, trained: ModelArtifact) -> None:
    governor = Governor.deploy(env, {env.sender: 1}, voting_period_blocks=1, timelock_blocks=0)
    registry = ModelRegistry.deploy(env, governor.address)
    token = GuardedToken.deploy(env, governor=governor.address, registry=registry.address)
    installed = install_model(env, token, trained, governor, registry)
    assert token.model() == (trained.model_id, installed.contract, installed.threshold)
    entry = registry.model(trained.model_id)
    assert entry.status is ModelStatus.APPROVED and entry.contract == installed.contract
    assert entry.card_hash == trained.card_hash
    assert len(installed.proposals) == 2
    # resumable: approved already, so only set_model is voted again (with a new threshold)
    again = install_model(env, token, trained, governor, registry, threshold=7)
    assert len(again.proposals) == 1 and token.model()[2] == 7
    # the contract scores the token's features exactly as the fixed-point reference
    a, b = env.accounts[:2]
    token.mint({a: 10**6})
    token.transfer(b, 12_345)
    features = list(token.features(a, b, 50_000))
    cache = env.data_dir / "cache" / "vyper" if env.data_dir else None
    _, compiled = compile_model_contract(trained, cache)
    model = env.at(installed.contract, compiled)
    assert model.score(features) == installed.fixed_point.score(features)


def test_a_proposal_that_cannot_pass_is_reported(env: Env) -> None:
    outsider = "0x" + "5e" * 20  # a member whose key this process does not hold
    governor = Governor.deploy(
        env, {env.sender: 1, outsider: 5}, voting_period_blocks=1, timelock_blocks=0
    )
    registry = ModelRegistry.deploy(env, governor.address)
    with pytest.raises(ProposalNotPassedError) as info:
        pass_proposal(governor, registry.address, registry.retire_calldata(b"\x01" * 32), "t")
    # the sender votes for (weight 1), the outsider (weight 5) does not: no quorum
    assert info.value.state is ProposalState.DEFEATED and info.value.exit_code == 5


def test_a_small_stream_on_both_backends(env: Env, trained: ModelArtifact) -> None:
    run = simulate_guard(env, trained, transfers=120, seed=4)
    report = run.report
    assert report.sent + report.skipped == report.transfers == 120
    assert report.features_checked == report.sent
    assert len(report.plain_gas) == len(report.guarded_gas) == report.sent
    assert len(run.token.held()) == report.held == len(report.held_gas)
    assert report.legit_held + report.fraud_held == report.held
    assert min(report.guarded_gas) > max(report.plain_gas)  # screening costs gas


@pytest.mark.slow
def test_a_few_thousand_payments_through_the_token(
    embedded_env: Env, trained: ModelArtifact
) -> None:
    env = embedded_env
    with env.snapshot():
        run = simulate_guard(env, trained, transfers=2_500, seed=21)
        report, token = run.report, run.token
        simulation = simulate_payments(2_500, 21)
        # frauds held, counted from the chain's Held events, equal the report's
        by_key = {
            (run.accounts[t.sender], run.accounts[t.recipient], t.amount): t
            for t in simulation.transfers
        }
        held = token.held()
        assert len(held) == report.held and [h.id for h in held] == report.held_ids
        frauds = [by_key[(h.sender, h.recipient, h.amount)] for h in held]
        assert sum(t.is_fraud for t in frauds) == report.fraud_held
        for pattern in PATTERNS[1:]:
            counted = sum(t.pattern == pattern for t in frauds)
            assert counted == report.frauds[pattern][0]
        failures = sum(h.reason is HoldReason.MODEL_FAILED for h in held)
        assert failures == report.model_failures == 0
        # balances are conserved: every minted cent is in an account or in escrow
        minted = sum(simulation.initial_balances.values())
        total = sum(token.balance_of(a) for a in run.accounts) + token.escrowed
        assert total == token.total_supply == minted
        assert token.escrowed == sum(h.amount for h in held)
        # features differ from the simulator's only after a hold changed someone's balance
        assert report.features_checked == report.sent
        # ... or after a block missed its pinned second (a wall-clock tick on a busy machine)
        if report.held == 0 and report.late == 0:
            assert report.features_equal == report.sent
        assert report.features_equal >= 0.5 * report.sent
        assert report.fraud_held > 0 and report.late <= report.sent // 50
        assert report.gas()["guarded"].mean > report.gas()["plain ERC-20"].mean


def test_install_refuses_a_squatted_id_until_governance_reassigns_it(
    env: Env, trained: ModelArtifact
) -> None:
    owner, squatter = env.accounts[:2]
    governor = Governor.deploy(env, {owner: 1}, voting_period_blocks=1, timelock_blocks=0)
    registry = ModelRegistry.deploy(env, governor.address)
    token = GuardedToken.deploy(env, governor=governor.address, registry=registry.address)
    artifact_hash = str(trained.card["artifact_hash"])
    registry.register(trained.model_id, artifact_hash, trained.card_hash, "x://", sender=squatter)
    with pytest.raises(VerificationError, match="chainml gov propose reassign"):
        install_model(env, token, trained, governor, registry)
    reassign = registry.reassign_calldata(
        trained.model_id, owner, artifact_hash, trained.card_hash, "file:///real"
    )
    pass_proposal(governor, registry.address, reassign, "give the id back")
    installed = install_model(env, token, trained, governor, registry)
    entry = registry.model(trained.model_id)
    assert (entry.status, entry.registrant, entry.contract) == (
        ModelStatus.APPROVED,
        owner,
        installed.contract,
    )
