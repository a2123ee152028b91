"""Which Governor and ModelRegistry belong to which chain: ``<data_dir>/deployments.json``.

The file names its format and maps a chain id to the addresses of the contracts chainml
deployed there::

    {"format": "chainml-deployments/2",
     "chains": {"1337": {"Governor": "0x…", "ModelRegistry": "0x…"}}}

Format 2 records contracts with expiring proposals and compare-and-swap approvals. A file of
the first format (chain ids at the top level) names contracts of the old interface; it is
refused with a DataDirectoryError saying how to start over, never read as if it were new
(governance must be deployed anew: the old contracts cannot be driven by this version).

It is rewritten atomically (temporary file, fsync, rename), so a crash leaves the old or the
new version, never half of one; a damaged file is a DataDirectoryError, never reset silently.
"""

from __future__ import annotations

import json
from pathlib import Path

from eth_utils import is_address

from chainml.chain import Env
from chainml.config import ensure_directory
from chainml.errors import DataDirectoryError, NotFoundError
from chainml.files import write_atomic
from chainml.governance.governor import DEFAULT_EXECUTION_WINDOW, Governor
from chainml.governance.registry import ModelRegistry

FILE_NAME = "deployments.json"
NAMES = ("Governor", "ModelRegistry")
FORMAT = "chainml-deployments/2"


def deployments_path(data_dir: Path) -> Path:
    """Where the deployments of ``data_dir`` are recorded."""
    return data_dir / FILE_NAME


def load_deployments(data_dir: Path) -> dict[str, dict[str, str]]:
    """Every recorded deployment, by chain id (as a string); empty when there is no file."""
    path = deployments_path(data_dir)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataDirectoryError(str(data_dir), f"{FILE_NAME} is unreadable: {err}") from err
    if not isinstance(document, dict):
        raise DataDirectoryError(str(data_dir), f"{FILE_NAME} must hold a JSON object")
    if document == {}:
        return {}  # nothing recorded, in any format
    if "format" not in document and all(isinstance(k, str) and k.isdigit() for k in document):
        raise DataDirectoryError(
            str(data_dir),
            f"{FILE_NAME} was written by an older chainml: its governance contracts (chains "
            f"{', '.join(sorted(document))}) lack expiring proposals and checked approvals, "
            "and this version cannot drive them. Move the file aside and run `chainml gov "
            "deploy` to deploy governance anew (approvals and tokens recorded there do not "
            "carry over)",
        )
    if document.get("format") != FORMAT or set(document) != {"format", "chains"}:
        raise DataDirectoryError(
            str(data_dir),
            f"{FILE_NAME} is not in the {FORMAT} format (format {document.get('format')!r})",
        )
    chains = document["chains"]
    if not isinstance(chains, dict):
        raise DataDirectoryError(str(data_dir), f"{FILE_NAME}: chains must be a JSON object")
    for chain_id, entry in chains.items():
        if not chain_id.isdigit() or not isinstance(entry, dict):
            raise DataDirectoryError(
                str(data_dir), f"{FILE_NAME}: entry {chain_id!r} is not chain id -> addresses"
            )
        for name, address in entry.items():
            if not isinstance(address, str) or not is_address(address):
                raise DataDirectoryError(
                    str(data_dir),
                    f"{FILE_NAME}: {name} on chain {chain_id} is not an address: {address!r}",
                )
    return chains


def deployment(data_dir: Path, chain_id: int) -> dict[str, str] | None:
    """The contract addresses recorded for ``chain_id``, or None."""
    return load_deployments(data_dir).get(str(chain_id))


def save_deployment(data_dir: Path, chain_id: int, addresses: dict[str, str]) -> None:
    """Record ``addresses`` (name -> address) for ``chain_id``, atomically."""
    chains = load_deployments(data_dir)
    chains[str(chain_id)] = dict(addresses)
    write_json_atomic(deployments_path(data_dir), {"format": FORMAT, "chains": chains})


def write_json_atomic(path: Path, document: object) -> None:
    """Write ``document`` to ``path`` as JSON with :func:`chainml.files.write_atomic`.

    A crash leaves the old file or the new one, never half of one. Every file of recorded
    addresses (this one, ``onchain/<chain id>.json``) is written with it.
    """
    ensure_directory(path.parent)
    write_atomic(path, json.dumps(document, indent=2, sort_keys=True) + "\n")


def governance(
    env: Env,
    data_dir: Path,
    *,
    deploy: bool = True,
    members: dict[str, int] | None = None,
    quorum_bps: int = 5000,
    majority_bps: int = 5000,
    voting_period_blocks: int = 10,
    timelock_blocks: int = 5,
    execution_window_blocks: int = DEFAULT_EXECUTION_WINDOW,
) -> tuple[Governor, ModelRegistry]:
    """The Governor and ModelRegistry of ``env``'s chain, deployed and recorded on first use.

    The first deployment makes ``members`` (default: the Env's sender with weight 1) the
    governor's members and the governor the registry's governor. Later calls return the
    recorded contracts and ignore the deployment arguments.
    """
    recorded = deployment(data_dir, env.chain_id)
    if recorded is not None:
        missing = [name for name in NAMES if name not in recorded]
        if missing:
            raise DataDirectoryError(
                str(data_dir), f"{FILE_NAME}: chain {env.chain_id} lacks {', '.join(missing)}"
            )
        try:
            governor = Governor.at(env, recorded["Governor"])
            registry = ModelRegistry.at(env, recorded["ModelRegistry"])
        except NotFoundError as err:
            raise NotFoundError(
                f"the governance contracts recorded in {deployments_path(data_dir)} are gone "
                f"from chain {env.chain_id} (was the node reset?); proposals and approvals "
                f"there are lost. Remove the entry for chain {env.chain_id} to deploy anew"
            ) from err
        return governor, registry
    if not deploy:
        raise NotFoundError(
            f"no governance contracts on chain {env.chain_id}; run `chainml gov deploy`"
        )
    governor = Governor.deploy(
        env,
        members or {env.sender: 1},
        quorum_bps=quorum_bps,
        majority_bps=majority_bps,
        voting_period_blocks=voting_period_blocks,
        timelock_blocks=timelock_blocks,
        execution_window_blocks=execution_window_blocks,
    )
    registry = ModelRegistry.deploy(env, governor.address)
    save_deployment(
        data_dir, env.chain_id, {"Governor": governor.address, "ModelRegistry": registry.address}
    )
    return governor, registry
