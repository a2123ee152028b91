"""A local anvil node for tests and benchmarks: found in the project, started on loopback.

anvil comes from the npm package ``@foundry-rs/anvil`` (installed into ``node_modules`` by
``make``); its native binary lives in the platform package next to it. The node listens on
127.0.0.1 only, on a free port, and is stopped by its PID.
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests

from chainml._closing import Closing
from chainml.errors import ChainUnavailableError, InvalidInputError

# anvil's well-known first development account (mnemonic "test test ... junk"); public.
ANVIL_DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
_PLATFORMS = {
    ("Linux", "x86_64"): "linux-amd64",
    ("Linux", "aarch64"): "linux-arm64",
    ("Darwin", "arm64"): "darwin-arm64",
    ("Darwin", "x86_64"): "darwin-amd64",
}


def find_anvil(start: Path | None = None) -> Path:
    """Locate the anvil binary: ``$CHAINML_ANVIL``, then ``node_modules`` upwards, then PATH."""
    if explicit := os.environ.get("CHAINML_ANVIL"):
        return Path(explicit)
    suffix = _PLATFORMS.get((platform.system(), platform.machine()))
    here = (start or Path.cwd()).resolve()
    source = Path(__file__).resolve()  # a source checkout keeps node_modules at its root
    for folder in (here, *here.parents, *source.parents):
        candidate = folder / "node_modules" / "@foundry-rs" / f"anvil-{suffix}" / "bin" / "anvil"
        if suffix and candidate.is_file():
            return candidate
    found = shutil.which("anvil")
    if found:
        return Path(found)
    raise InvalidInputError(
        "anvil not found: run `make install` (it installs the npm package @foundry-rs/anvil "
        "into node_modules) or set CHAINML_ANVIL to the binary"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class AnvilNode(Closing):
    """A running anvil process; use as a context manager or call :meth:`stop`."""

    def __init__(self, *, binary: Path | None = None, startup_timeout: float = 20.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [
            str(binary or find_anvil()),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--hardfork",
            "prague",
            "--silent",
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        self._wait_ready(startup_timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        payload = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise ChainUnavailableError(self.url, f"anvil exited at start: {err.strip()}")
            try:
                requests.post(self.url, json=payload, timeout=1).raise_for_status()
                return
            except requests.RequestException:
                time.sleep(0.05)
        self.stop()
        raise ChainUnavailableError(self.url, f"anvil did not answer within {timeout} s")

    @property
    def pid(self) -> int:
        """The anvil process id."""
        return int(self.process.pid)

    def close(self) -> None:
        """Stop the node (what ``with AnvilNode() as node:`` does on the way out)."""
        self.stop()

    def stop(self) -> None:
        """Stop anvil by its PID (TERM, then KILL after 5 s)."""
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
