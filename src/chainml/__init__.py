"""chainml: machine-learning models and their decisions, verifiable on Ethereum-compatible chains.

The public API is what ``__all__`` lists; everything else is private and may change. The
lifecycle of a model and its decisions (``Dataset``, ``Model``, ``DecisionLog``,
``verify_receipt``, ``Service``) is :mod:`chainml.api`, imported on first use.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from chainml._lazy import lazy_exports
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
    TransactionTimeoutError,
    VerificationError,
    WrongChainIdError,
)

if TYPE_CHECKING:
    from chainml.api.dataset import Dataset
    from chainml.api.decisions import DecisionLog, verify_receipt
    from chainml.api.model import Model
    from chainml.api.service import Service

# The lifecycle API (chainml.api), imported on first use: it pulls in numpy and friends.
_EXPORTS = {
    "Dataset": "chainml.api.dataset",
    "DecisionLog": "chainml.api.decisions",
    "Model": "chainml.api.model",
    "Service": "chainml.api.service",
    "verify_receipt": "chainml.api.decisions",
}

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
    "Dataset",
    "DecisionLog",
    "Env",
    "InsufficientFundsError",
    "InvalidInputError",
    "Model",
    "NonceConflictError",
    "NotFoundError",
    "ProofError",
    "Receipt",
    "Service",
    "Settings",
    "TransactionRejectedError",
    "TransactionTimeoutError",
    "VerificationError",
    "WrongChainIdError",
    "__version__",
    "connect",
    "load_settings",
    "verify_receipt",
]

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
