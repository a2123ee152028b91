"""Errors of contract scanning: a compiler version that is not installed."""

from __future__ import annotations

from collections.abc import Sequence

from chainml.errors import CompilationError


class UnknownCompilerVersionError(CompilationError):
    """No installed solcjs release satisfies the source's ``pragma solidity``."""

    def __init__(self, source_name: str, requirement: str, installed: Sequence[str]) -> None:
        self.requirement = requirement
        self.installed = tuple(installed)
        super().__init__(
            source_name,
            f"no installed Solidity compiler satisfies 'pragma solidity {requirement}' "
            f"(installed solcjs releases: {', '.join(self.installed) or 'none'}; add one to "
            'package.json as "solc-X.Y.Z": "npm:solc@X.Y.Z" and run npm ci)',
        )
