"""Calls and gas estimates on a py-evm state: executed like a transaction, then undone."""

from __future__ import annotations

import math

from eth.abc import ComputationAPI, StateAPI
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth.vm.spoof import SpoofTransaction
from eth_utils import ValidationError, to_canonical_address

from chainml.chain.backend import CallRequest
from chainml.chain.pyevm_blocks import revert_data
from chainml.chain.revert import revert_error
from chainml.errors import InvalidInputError

_FLOOR_GAS_PER_TOKEN = 10  # EIP-7623 calldata floor


def execute(state: StateAPI, request: CallRequest, gas: int) -> ComputationAPI:
    """Run ``request`` as a free transaction on ``state`` and undo every change."""
    sender = to_canonical_address(request.sender)
    tx = _spoof(state, request, gas)
    # Start like a new transaction: the previous one's changes become final and its
    # warm accounts and slots cold again (EIP-2929), as they would be for a real one.
    state.lock_changes()
    snapshot = state.snapshot()
    try:
        executor = state.get_transaction_executor()
        return executor.build_computation(executor.build_evm_message(tx), tx)
    except ValidationError as err:
        raise InvalidInputError(f"cannot execute call from {sender.hex()}: {err}") from err
    finally:
        state.revert(snapshot)


def call(state: StateAPI, request: CallRequest, gas: int) -> bytes:
    """The output of ``request``; a failure raises ContractRevertError with its reason."""
    computation = execute(state, request, gas)
    if computation.is_error:
        raise revert_error(revert_data(computation), str(computation.error))
    return bytes(computation.output)


def estimate_gas(state: StateAPI, request: CallRequest, gas_limit: int) -> int:
    """A gas limit with which ``request`` succeeds (checked by running it), at most the block's."""
    computation = execute(state, request, gas_limit)
    if computation.is_error:
        raise revert_error(revert_data(computation), str(computation.error))
    used = _spoof(state, request, gas_limit).intrinsic_gas + computation.get_gas_used()
    # A CALL forwards at most 63/64 of the gas left: leave that room, then check it.
    limit = max(math.ceil(used * 64 / 63) + 2_300, floor_gas(request.data))
    for _ in range(8):
        if limit >= gas_limit or not execute(state, request, limit).is_error:
            break
        limit = math.ceil(limit * 1.5)
    return int(min(limit, gas_limit))


def floor_gas(data: bytes) -> int:
    """The EIP-7623 minimum gas of a transaction carrying ``data``."""
    zeros = data.count(0)
    tokens = zeros + 4 * (len(data) - zeros)
    return 21_000 + _FLOOR_GAS_PER_TOKEN * tokens


def _spoof(state: StateAPI, request: CallRequest, gas: int) -> SpoofTransaction:
    sender = to_canonical_address(request.sender)
    unsigned = PragueTransactionBuilder.create_unsigned_transaction(
        nonce=state.get_nonce(sender),
        gas_price=0,
        gas=gas,
        to=to_canonical_address(request.to) if request.to else b"",
        value=request.value,
        data=request.data,
    )
    return SpoofTransaction(unsigned, from_=sender)
