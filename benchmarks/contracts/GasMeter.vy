# pragma version ~=0.4.3
"""
@title GasMeter (benchmark helper)
@notice Measures the gas a static call to `target` with `data` costs, from inside a transaction,
        and logs it with the call's output. The benchmark runs it twice per input row: against
        a model and against a trivial target (code STOP) with the same calldata; the
        difference is the model's execution gas, which the EIP-7623 calldata floor can hide in
        the receipt of a direct transaction.
"""

MAX_CALLDATA: constant(uint256) = 4096
MAX_OUTPUT: constant(uint256) = 64

event Measured:
    target: indexed(address)
    gas: uint256
    output: Bytes[MAX_OUTPUT]


@external
def measure(target: address, data: Bytes[MAX_CALLDATA]):
    ok: bool = False
    output: Bytes[MAX_OUTPUT] = b""
    start: uint256 = msg.gas
    ok, output = raw_call(
        target, data, max_outsize=MAX_OUTPUT, is_static_call=True, revert_on_failure=False
    )
    used: uint256 = start - msg.gas
    assert ok, "call reverted"
    log Measured(target=target, gas=used, output=output)
