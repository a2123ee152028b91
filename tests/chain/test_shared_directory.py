"""Finding 5: an owner serving the embedded chain while another process transacts on the same
data directory (contract calls, mining, governance through the CLI) loses nothing."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from chainml import contracts
from chainml.chain import connect
from chainml.config import Settings
from tests.chain.processes import CLI, started, stop, wait_for_owner
from tests.cli.test_cli import flat, isolated, run  # noqa: F401  (isolated is an autouse fixture)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_serve_and_cli_on_one_data_directory_lose_no_transaction(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, log = tmp_path / "chain", tmp_path / "serve.log"
    settings = Settings(data_dir=data_dir)

    def cli(*args: str) -> str:
        code, out, err = run(capsys, "--data-dir", str(data_dir), *args)
        assert code == 0, (args, err)
        return flat(out)

    def gov_status(*args: str) -> dict[str, object]:
        code, out, err = run(capsys, "--data-dir", str(data_dir), "gov", "status", *args, "--json")
        assert code == 0, err
        result: dict[str, object] = json.loads(out)
        return result

    serve = [*CLI, "--data-dir", str(data_dir), "chain", "serve", "--port", "0"]
    with started(serve, log) as owner:
        served = wait_for_owner(data_dir, owner, log)
        acknowledged: list[bytes] = []
        errors: list[BaseException] = []
        done = threading.Event()
        with connect(settings) as env:
            assert f"through process {owner.pid} at {served.url}" in env.backend.location
            a, b, bumper, newcomer = env.accounts[:4]
            compiled = contracts.load("Counter", tmp_path / "vyper")
            counter = env.deploy(compiled, 0, sender=bumper)

            def bump() -> None:  # increments from their own account, all through the test
                try:  # each receipt asked through the endpoint seals a block: keep it slow
                    while not done.wait(0.05):
                        receipt = counter.transact("increment", sender=bumper, gas=100_000)
                        acknowledged.append(receipt.tx_hash)
                except BaseException as err:
                    errors.append(err)

            thread = threading.Thread(target=bump)
            thread.start()
            try:
                out = cli(
                    "gov", "deploy", "--member", f"{a}=2", "--member", f"{b}=1",
                    "--voting-period", "200", "--timelock", "2",
                )  # fmt: skip
                assert "timelock 2" in out
                assert "proposal 1 created" in cli("gov", "propose", "member", newcomer, "1")
                assert "voted for on proposal 1" in cli("gov", "vote", "1", "for")
                wait = gov_status("1")["blocks_until_executable"]
                assert isinstance(wait, int)
                assert f"mined {wait} block(s)" in cli("chain", "mine", str(wait))
                assert "executed proposal 1" in cli("gov", "execute", "1", "--from", "1")
            finally:
                done.set()
                thread.join(60)
            assert not errors, errors
            assert len(acknowledged) >= 3, "the increments did not run alongside governance"
            members = gov_status()["members"]
            assert members == {a: 2, b: 1, newcomer: 1}
        assert stop(owner) == 0, log.read_text()

    # The owner is gone: this process opens the directory itself; everything is there.
    with connect(settings) as env:
        assert env.backend.location == str(data_dir)
        for tx_hash in acknowledged:
            assert env.backend.wait_for_receipt(tx_hash).status
        assert env.at(counter.address, compiled).count() == len(acknowledged)
        assert gov_status()["members"] == {a: 2, b: 1, newcomer: 1}
