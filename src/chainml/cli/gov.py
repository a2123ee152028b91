"""The ``chainml gov`` command group: proposals, votes and execution through the Governor."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from eth_utils import is_address, to_checksum_address
from rich.table import Table

from chainml.chain import Env, connect
from chainml.cli import console, print_json, settings_of
from chainml.errors import InvalidInputError
from chainml.governance.deployments import deployment, governance
from chainml.governance.governor import DEFAULT_EXECUTION_WINDOW, Governor, Support
from chainml.governance.registry import ModelRegistry, ModelStatus, model_id_bytes

app = typer.Typer(
    help="Governance: propose, vote, execute; the governor approves models.", no_args_is_help=True
)
propose_app = typer.Typer(help="Propose a governed action (a call the governor makes).")
app.add_typer(propose_app, name="propose", no_args_is_help=True)

_ID = Annotated[int, typer.Argument(metavar="ID", help="The proposal id.")]
_FROM = Annotated[
    str | None,
    typer.Option(
        "--from",
        metavar="ADDR",
        help="Sign as this account: an address or its index in "
        "`chainml chain accounts` (default: the first).",
    ),
]
_DESCRIPTION = Annotated[str | None, typer.Option("--description", help="What and why.")]
_JSON = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@contextmanager
def _governance(
    ctx: typer.Context, deploy: bool = False
) -> Iterator[tuple[Env, Governor, ModelRegistry]]:
    settings = settings_of(ctx)
    with connect(settings) as env:
        fresh = deploy and deployment(settings.data_dir, env.chain_id) is None
        governor, registry = governance(env, settings.data_dir, deploy=deploy)
        if fresh:
            console().print(
                f"deployed governance on chain {env.chain_id} with the defaults (sole member "
                f"{env.sender}): Governor {governor.address}, ModelRegistry {registry.address}"
            )
        yield env, governor, registry


def _sender(env: Env, value: str | None) -> str | None:
    """``--from``: an address this Env can sign for, or an index into its accounts."""
    if value is None or not value.isdigit():
        return value  # Env checks the address and that it holds the key
    accounts = env.accounts
    if int(value) >= len(accounts):
        raise InvalidInputError(f"--from {value}: there are only {len(accounts)} accounts")
    return accounts[int(value)]


def _members(values: list[str]) -> dict[str, int]:
    members: dict[str, int] = {}
    for value in values:
        address, _, weight = value.partition("=")
        if not is_address(address) or not weight.isdigit() or int(weight) <= 0:
            raise InvalidInputError(f"--member takes ADDR=WEIGHT (weight > 0), got {value!r}")
        checked = str(to_checksum_address(address))
        if checked in members:
            raise InvalidInputError(f"--member {checked} is given twice")
        members[checked] = int(weight)
    return members


@app.command()
def deploy(
    ctx: typer.Context,
    member: Annotated[
        list[str] | None,
        typer.Option("--member", metavar="ADDR=WEIGHT", help="A member (repeat; default: you=1)."),
    ] = None,
    quorum_bps: Annotated[int, typer.Option(help="Share of weight that must vote.")] = 5000,
    majority_bps: Annotated[int, typer.Option(help="For must exceed this share.")] = 5000,
    voting_period: Annotated[int, typer.Option(metavar="BLOCKS")] = 10,
    timelock: Annotated[int, typer.Option(metavar="BLOCKS")] = 5,
    execution_window: Annotated[
        int,
        typer.Option(
            metavar="BLOCKS",
            help="Blocks after the timelock in which a passed proposal may be executed; "
            "later it expires.",
        ),
    ] = DEFAULT_EXECUTION_WINDOW,
) -> None:
    """Deploy a Governor and the ModelRegistry it governs on this chain (once per chain)."""
    settings = settings_of(ctx)
    members = _members(member or [])
    with connect(settings) as env:
        if (known := deployment(settings.data_dir, env.chain_id)) is not None:
            raise InvalidInputError(
                f"governance is already deployed on chain {env.chain_id}: Governor "
                f"{known.get('Governor')}, ModelRegistry {known.get('ModelRegistry')}"
            )
        governor, registry = governance(
            env,
            settings.data_dir,
            members=members or None,
            quorum_bps=quorum_bps,
            majority_bps=majority_bps,
            voting_period_blocks=voting_period,
            timelock_blocks=timelock,
            execution_window_blocks=execution_window,
        )
        weights = governor.members()
    console().print(
        f"Governor {governor.address}\nModelRegistry {registry.address}\n"
        f"members {', '.join(f'{a}={w}' for a, w in weights.items())}; quorum {quorum_bps} "
        f"bps, majority {majority_bps} bps, voting {voting_period} blocks, timelock {timelock}"
        f", execution window {execution_window} blocks"
    )


def _propose(
    ctx: typer.Context,
    sender: str | None,
    description: str | None,
    build: Callable[[Governor, ModelRegistry], tuple[str, bytes, str]],
) -> None:
    """Propose the call ``build`` returns as (target, calldata, default description)."""
    with _governance(ctx, deploy=True) as (env, governor, registry):
        target, data, default = build(governor, registry)
        pid = governor.propose(target, data, description or default, sender=_sender(env, sender))
        p = governor.proposal(pid)
    console().print(
        f"proposal {pid} created: votes until block {p.end_block}, executable in blocks "
        f"{p.executable_after + 1}..{p.expires_after} (expires after that)"
    )


def _registered(registry: ModelRegistry, model_id: str, *refused: ModelStatus) -> str:
    model = registry.model(model_id_bytes(model_id))
    if model.status in refused:
        raise InvalidInputError(f"model {model.model_id} is already {model.status.name.lower()}")
    return model.model_id


@propose_app.command("approve")
def propose_approve(
    ctx: typer.Context,
    model_id: Annotated[str, typer.Argument(help="The model id (0x + 64 hex).")],
    use: Annotated[str, typer.Option("--use", help="The use, e.g. fraud-screening.")],
    description: _DESCRIPTION = None,
    sender: _FROM = None,
) -> None:
    """Propose approving a registered model for a use (retiring the one approved before).

    The proposal pins what you see now: the model approved for the use, the model's
    registrant and its attached contract (all in the description). If any of them changes
    before execution, executing reverts as stale; propose again.
    """

    def build(_: Governor, registry: ModelRegistry) -> tuple[str, bytes, str]:
        known = _registered(registry, model_id, ModelStatus.APPROVED, ModelStatus.RETIRED)
        terms = registry.approval_terms(known, use)
        return registry.address, registry.approve_calldata(known, use), terms.describe()

    _propose(ctx, sender, description, build)


@propose_app.command("retire")
def propose_retire(
    ctx: typer.Context,
    model_id: Annotated[str, typer.Argument(help="The model id (0x + 64 hex).")],
    description: _DESCRIPTION = None,
    sender: _FROM = None,
) -> None:
    """Propose retiring a model."""

    def build(_: Governor, registry: ModelRegistry) -> tuple[str, bytes, str]:
        known = _registered(registry, model_id, ModelStatus.RETIRED)
        return registry.address, registry.retire_calldata(known), f"retire {known}"

    _propose(ctx, sender, description, build)


@propose_app.command("reassign")
def propose_reassign(
    ctx: typer.Context,
    model_id: Annotated[str, typer.Argument(help="The model id (0x + 64 hex).")],
    registrant: Annotated[
        str, typer.Option("--registrant", metavar="ADDR", help="The model's rightful owner.")
    ],
    artifact_hash: Annotated[str, typer.Option("--artifact-hash", metavar="0xHASH")],
    card_hash: Annotated[str, typer.Option("--card-hash", metavar="0xHASH")],
    uri: Annotated[str, typer.Option("--uri", help="Where the artifact can be fetched.")],
    description: _DESCRIPTION = None,
    sender: _FROM = None,
) -> None:
    """Propose handing a squatted model id to its rightful registrant.

    Someone who registered an id first (with their own URI, card or contract) loses the entry:
    registrant, hashes and URI are replaced and the attached contract is cleared, so the new
    registrant attaches theirs. Only for a model that was never approved.
    """

    def build(_: Governor, registry: ModelRegistry) -> tuple[str, bytes, str]:
        known = _registered(registry, model_id, ModelStatus.APPROVED, ModelStatus.RETIRED)
        data = registry.reassign_calldata(known, registrant, artifact_hash, card_hash, uri)
        return registry.address, data, f"reassign {known} to {registrant} ({uri})"

    _propose(ctx, sender, description, build)


@propose_app.command("member")
def propose_member(
    ctx: typer.Context,
    address: Annotated[str, typer.Argument(metavar="ADDR")],
    weight: Annotated[int, typer.Argument(min=0, help="New voting weight; 0 removes.")],
    description: _DESCRIPTION = None,
    sender: _FROM = None,
) -> None:
    """Propose setting a member's voting weight (only a passed proposal changes weights)."""
    if not is_address(address):
        raise InvalidInputError(f"{address!r} is not an Ethereum address")
    member = str(to_checksum_address(address))

    def build(governor: Governor, _: ModelRegistry) -> tuple[str, bytes, str]:
        data = governor.contract.function("set_member", 2).encode_call((member, weight))
        return governor.address, data, f"set the weight of {member} to {weight}"

    _propose(ctx, sender, description, build)


@app.command()
def vote(
    ctx: typer.Context,
    proposal_id: _ID,
    support: Annotated[str, typer.Argument(metavar="for|against|abstain")],
    sender: _FROM = None,
) -> None:
    """Vote on a proposal."""
    choice = Support.parse(support)
    with _governance(ctx) as (env, governor, _):
        governor.proposal(proposal_id)  # an unknown id is bad input, not a revert
        voter = _sender(env, sender) or env.sender
        governor.vote(proposal_id, choice, sender=voter)
        p = governor.proposal(proposal_id)
        ballot = governor.ballot(proposal_id, voter)
    weight = ballot[1] if ballot else 0
    console().print(
        f"{voter} voted {choice.name.lower()} on proposal {proposal_id} with weight {weight}: "
        f"for {p.for_votes}, against {p.against_votes}, abstain {p.abstain_votes} "
        f"(quorum {p.votes_cast}/{p.quorum_weight})"
    )


@app.command()
def execute(ctx: typer.Context, proposal_id: _ID, sender: _FROM = None) -> None:
    """Execute a passed proposal in its execution window (anyone may); it expires after."""
    with _governance(ctx) as (env, governor, _):
        governor.proposal(proposal_id)  # an unknown id fails here, with its own message
        receipt = governor.execute(proposal_id, sender=_sender(env, sender))
    console().print(
        f"executed proposal {proposal_id} in block {receipt.block_number} "
        f"(tx 0x{receipt.tx_hash.hex()})"
    )


@app.command()
def cancel(ctx: typer.Context, proposal_id: _ID, sender: _FROM = None) -> None:
    """Cancel a proposal (its proposer only) before it is executed."""
    with _governance(ctx) as (env, governor, _):
        governor.proposal(proposal_id)
        governor.cancel(proposal_id, sender=_sender(env, sender))
    console().print(f"canceled proposal {proposal_id}")


@app.command()
def status(
    ctx: typer.Context,
    proposal_id: Annotated[int | None, typer.Argument(metavar="[ID]")] = None,
    as_json: _JSON = False,
) -> None:
    """All proposals, or one: state, votes, quorum progress, blocks left."""
    with _governance(ctx) as (env, governor, registry):
        latest = env.block_number
        chosen = (
            [governor.proposal(proposal_id)] if proposal_id is not None else governor.proposals()
        )
        rows = [p.facts(latest) for p in chosen]
        overview = {
            "chain_id": env.chain_id,
            "block": latest,
            "governor": governor.address,
            "registry": registry.address,
            "parameters": governor.parameters(),
            "members": governor.members(),
            "proposals": rows,
        }
    if as_json:
        print_json(rows[0] if proposal_id is not None else overview)
        return
    _print_status(overview)


def _print_status(overview: dict[str, Any]) -> None:
    out = console()
    params = overview["parameters"]
    out.print(
        f"Governor {overview['governor']} (chain {overview['chain_id']}, block "
        f"{overview['block']}); quorum {params['quorum_bps']} bps, majority "
        f"{params['majority_bps']} bps, voting {params['voting_period']} blocks, timelock "
        f"{params['timelock_blocks']}, execution window {params['execution_window']} blocks"
    )
    if not overview["proposals"]:
        out.print("no proposals yet (`chainml gov propose ...`)")
        return
    table = Table(title_justify="left")
    for column in ("id", "state", "for/against/abstain", "quorum", "blocks left", "description"):
        table.add_column(column, overflow="fold")
    for row in overview["proposals"]:
        votes, quorum = row["votes"], row["quorum"]
        if row["state"] == "active":
            left = f"{row['voting_blocks_left']} to vote"
        elif row["state"] == "succeeded":
            left = f"{row['blocks_until_executable']} to timelock end"
        elif row["state"] == "ready":
            left = f"executable: {row['execution_blocks_left']} to expiry"
        else:
            left = "-"
        table.add_row(
            str(row["id"]),
            row["state"],
            f"{votes['for']}/{votes['against']}/{votes['abstain']}",
            f"{quorum['cast']}/{quorum['needed']}",
            left,
            row["description"],
        )
    out.print(table)
