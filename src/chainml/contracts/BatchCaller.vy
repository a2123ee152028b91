# pragma version ~=0.4.3
"""
@title BatchCaller
@notice Many read-only calls to one contract in a single eth_call: how `chainml onchain check`
        compares a model contract with its Python reference over thousands of rows quickly.
        It only forwards static calls and returns their raw results; it holds no state.
"""

MAX_CALLS: constant(uint256) = 256
MAX_CALLDATA: constant(uint256) = 4100  # selector + up to 128 int256 features
MAX_RESULT: constant(uint256) = 64


@external
@view
def call_many(
    target: address, calls: DynArray[Bytes[MAX_CALLDATA], MAX_CALLS]
) -> DynArray[Bytes[MAX_RESULT], MAX_CALLS]:
    results: DynArray[Bytes[MAX_RESULT], MAX_CALLS] = []
    for data: Bytes[MAX_CALLDATA] in calls:
        results.append(raw_call(target, data, max_outsize=MAX_RESULT, is_static_call=True))
    return results
