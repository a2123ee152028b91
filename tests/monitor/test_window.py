"""The feature window is a function of the last 2 windows of blocks: moving equals rebuilding.

That is what makes a restart or a reorg safe: the follower rebuilds the window by replaying
the last blocks, and must get exactly the features the running window would have given.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chainml.chain.backend import Log, Receipt
from chainml.monitor.blocks import ChainTx
from chainml.monitor.features import TRANSFER_TOPIC, ZERO_ADDRESS, Window

ADDRESSES = [ZERO_ADDRESS, *(f"0x{i:040x}" for i in range(1, 5))]
TOKEN = "0x" + "77" * 20


def _tx(block: int, index: int, sender: int, to: int | None, moves: list[tuple[int, int, int]]):
    tx_hash = (block * 1000 + index).to_bytes(32, "big")
    logs = tuple(
        Log(
            address=TOKEN,
            topics=(
                TRANSFER_TOPIC,
                bytes(12) + bytes.fromhex(ADDRESSES[src][2:]),
                bytes(12) + bytes.fromhex(ADDRESSES[dst][2:]),
            ),
            data=amount.to_bytes(32, "big"),
            block_number=block,
            tx_hash=tx_hash,
            log_index=i,
        )
        for i, (src, dst, amount) in enumerate(moves)
    )
    created = None if to is not None else f"0x{block * 1000 + index + 100:040x}"
    tx = ChainTx(
        tx_hash, ADDRESSES[sender], None if to is None else ADDRESSES[to], 1, 21000, b"", 0
    )
    return tx, Receipt(tx_hash, block, 21000, True, created, logs)


transaction = st.tuples(
    st.integers(1, 4),
    st.one_of(st.none(), st.integers(1, 4)),
    st.lists(st.tuples(st.integers(0, 4), st.integers(1, 4), st.integers(1, 10**6)), max_size=3),
)
chain = st.lists(st.lists(transaction, max_size=4), min_size=1, max_size=12)


@settings(max_examples=40, deadline=None)
@given(chain, st.integers(1, 5))
def test_moving_the_window_equals_rebuilding_it(blocks, width) -> None:
    built = [
        [_tx(n, i, *spec) for i, spec in enumerate(specs)] for n, specs in enumerate(blocks, 1)
    ]
    running = Window(width, fresh_blocks=2, spike_ratio=2)
    for number, txs in enumerate(built, 1):
        running.start_block(number)
        moving = [running.observe(i, tx, receipt) for i, (tx, receipt) in enumerate(txs)]
        rebuilt = Window(width, fresh_blocks=2, spike_ratio=2)
        for earlier in range(max(1, number - 2 * width + 2), number):
            rebuilt.start_block(earlier)
            for i, (tx, receipt) in enumerate(built[earlier - 1]):
                rebuilt.observe(i, tx, receipt)
        rebuilt.start_block(number)
        fresh = [rebuilt.observe(i, tx, receipt) for i, (tx, receipt) in enumerate(txs)]
        assert moving == fresh
