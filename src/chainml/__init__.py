"""chainml: machine-learning models and their decisions, verifiable on Ethereum-compatible chains.

The public API is what ``__all__`` lists; everything else is private and may change.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from chainml.chain import Contract, Env, Receipt, connect
from chainml.config import Settings, load_settings
from chainml.errors import (
    ChainError,
    ChainMLError,
    ChainUnavailableError,
    CompilationError,
    ContractRevertError,
    DataDirectoryError,
    InsufficientFundsError,
    InvalidInputError,
    NonceConflictError,
    NotFoundError,
    ProofError,
    TransactionRejectedError,
    VerificationError,
    WrongChainIdError,
)

try:
    __version__ = version("chainml")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = [
    "ChainError",
    "ChainMLError",
    "ChainUnavailableError",
    "CompilationError",
    "Contract",
    "ContractRevertError",
    "DataDirectoryError",
    "Env",
    "InsufficientFundsError",
    "InvalidInputError",
    "NonceConflictError",
    "NotFoundError",
    "ProofError",
    "Receipt",
    "Settings",
    "TransactionRejectedError",
    "VerificationError",
    "WrongChainIdError",
    "__version__",
    "connect",
    "load_settings",
]
