"""The error hierarchy of chainml: one root, families with CLI exit codes.

Every error raised from library code derives from :class:`ChainMLError`. Families are twinned
with the built-in they resemble (``InvalidInputError`` is also a ``ValueError``) so callers can
catch either. Each error carries fields and writes its own message; the CLI maps ``exit_code``
to the process exit status (see :data:`EXIT_CODES`).
"""

from __future__ import annotations

from typing import ClassVar

#: The one table of CLI exit codes; ``chainml --help`` prints it.
EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "unexpected internal error (a bug: please report it)",
    2: "bad input or usage (malformed argument, unknown contract, invalid file)",
    3: "verification failed (a proof or record does not check out)",
    4: "unavailable (a chain node or a download source cannot be reached, or a transaction "
    "was not mined in time)",
    5: "transaction rejected (revert, insufficient funds, nonce conflict, wrong chain)",
    6: "local data unusable (missing or corrupted data directory)",
}


class ChainMLError(Exception):
    """Root of every error raised by chainml."""

    exit_code: ClassVar[int] = 1


class InvalidInputError(ChainMLError, ValueError):
    """An argument, file or value supplied by the caller is not acceptable."""

    exit_code = 2


class NotFoundError(InvalidInputError, LookupError):
    """The caller named something that does not exist (a contract, a transaction, ...)."""


class CompilationError(InvalidInputError):
    """A contract source failed to compile."""

    def __init__(self, source_name: str, detail: str) -> None:
        self.source_name = source_name
        self.detail = detail
        super().__init__(f"cannot compile {source_name}: {detail}")


class UntrustedTypesError(InvalidInputError):
    """A model file holds types the caller did not trust; nothing in it was loaded."""

    def __init__(self, source_name: str, types: list[str]) -> None:
        self.source_name = source_name
        self.types = types
        super().__init__(
            f"{source_name} holds {len(types)} untrusted type(s), so it was not loaded: "
            f"{', '.join(types)}; if you trust them, name each with --trust TYPE"
        )


class VerificationError(ChainMLError):
    """Something that should verify (a proof, a record, a signature) does not."""

    exit_code = 3


class ChainError(ChainMLError):
    """A problem talking to, or transacting on, a chain."""

    exit_code = 5


class ChainUnavailableError(ChainError, ConnectionError):
    """The chain node cannot be reached."""

    exit_code = 4

    def __init__(self, url: str, detail: str) -> None:
        self.url = url
        self.detail = detail
        super().__init__(
            f"cannot reach the chain node at {url}: {detail}. "
            "Hint: is the node running and the URL right? Set it with --rpc or CHAINML_RPC, "
            "or leave both unset to use the embedded chain."
        )


class TransactionRejectedError(ChainError):
    """The chain refused a transaction or call."""


class ContractRevertError(TransactionRejectedError):
    """A contract call or transaction reverted; ``reason`` is the decoded revert reason."""

    def __init__(self, reason: str | None, data: bytes = b"", tx_hash: str | None = None) -> None:
        self.reason = reason
        self.data = data
        self.tx_hash = tx_hash
        shown = reason if reason is not None else f"no reason given (data 0x{data.hex()})"
        where = f" in transaction {tx_hash}" if tx_hash else ""
        super().__init__(f"execution reverted{where}: {shown}")


class InsufficientFundsError(TransactionRejectedError):
    """The sender cannot pay for value plus gas."""

    def __init__(self, sender: str, detail: str) -> None:
        self.sender = sender
        self.detail = detail
        super().__init__(
            f"account {sender} has insufficient funds for this transaction: {detail}. "
            "Hint: fund the account, or lower the value or gas price."
        )


class NonceConflictError(TransactionRejectedError):
    """The transaction's nonce was already used or is ahead of the account's next nonce."""

    def __init__(self, sender: str, nonce: int, detail: str) -> None:
        self.sender = sender
        self.nonce = nonce
        self.detail = detail
        super().__init__(
            f"nonce {nonce} of account {sender} was rejected: {detail}. "
            "Another process may be sending from the same account."
        )


class WrongChainIdError(ChainError):
    """The node serves a different chain than the one expected."""

    def __init__(self, expected: int, actual: int) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"the node serves chain id {actual}, but chain id {expected} was expected. "
            "Hint: check the --rpc URL and the --network / CHAINML_NETWORK or "
            "CHAINML_CHAIN_ID setting."
        )


class DataDirectoryError(ChainMLError):
    """The data directory is missing, unreadable or corrupted; nothing is reset silently."""

    exit_code = 6

    def __init__(self, path: str, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(f"data directory {path}: {detail}")


class ProofError(VerificationError):
    """A Merkle proof does not lead to the expected root."""

    def __init__(
        self, *, index: int, size: int, expected: bytes, computed: bytes | None, detail: str = ""
    ) -> None:
        self.index = index
        self.size = size
        self.expected = expected
        self.computed = computed
        self.detail = detail
        got = computed.hex() if computed is not None else "nothing"
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"proof for index {index} in a tree of size {size} does not verify{extra}: "
            f"expected root {expected.hex()}, computed {got}"
        )


class DataDirectoryBusyError(DataDirectoryError):
    """Another live process owns the embedded data directory (one writer per directory)."""

    def __init__(self, path: str, pid: int | None, url: str | None = None) -> None:
        self.pid = pid
        self.url = url  # the owner's JSON-RPC endpoint, when it serves one
        owner = f"process {pid}" if pid else "another process"
        if url:
            advice = (
                f"serves it at {url}: use that endpoint (other chainml commands on this "
                "directory go through it); a second writer would erase its transactions"
            )
        else:
            advice = (
                "offers no endpoint; a second writer would erase its transactions. Wait for "
                "it to exit, or run the long-lived one as `chainml chain serve` or `chainml "
                "serve`: chainml commands on this directory then go through it"
            )
        super().__init__(path, f"the embedded chain is owned by {owner}, which {advice}")


class TransactionTimeoutError(ChainError, TimeoutError):
    """A sent transaction was not mined within the wait; it may still be mined later."""

    exit_code = 4  # like an unavailable node: the chain did not answer in time, try again

    def __init__(self, tx_hash: bytes, seconds: float) -> None:
        self.tx_hash = tx_hash
        self.seconds = seconds
        super().__init__(
            f"transaction 0x{tx_hash.hex()} was not mined within {seconds:g} s. "
            "It may still be mined: look it up by its hash before sending it again."
        )


class FeeCapExceededError(ChainError):
    """The network asks more per gas than the configured cap: nothing was sent; wait."""

    exit_code = 4  # like an unavailable node: nothing is wrong with the request, try later

    def __init__(self, needed: int, cap: int) -> None:
        self.needed = needed
        self.cap = cap
        super().__init__(
            f"the network asks {needed / 1e9:.3f} gwei per gas, above the cap of "
            f"{cap / 1e9:.3f} gwei; nothing was sent. It is sent once fees fall (or raise "
            "CHAINML_MAX_FEE_GWEI)."
        )


class BudgetExceededError(ChainError):
    """Sending would spend past the configured daily budget: nothing was sent; wait."""

    exit_code = 4

    def __init__(self, spent: int, budget: int, needed: int) -> None:
        self.spent = spent
        self.budget = budget
        self.needed = needed
        super().__init__(
            f"today's fee budget is {budget} wei and {spent} wei are spent or reserved; this "
            f"transaction may cost up to {needed} wei, so nothing was sent. It is sent "
            "tomorrow (UTC), or raise CHAINML_DAILY_BUDGET_GWEI."
        )
