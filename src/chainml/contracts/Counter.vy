# pragma version ~=0.4.3
"""
@title Counter
@notice The smallest stateful contract: `chainml demo` and the chain conformance tests use it
        to exercise deploy, call, transact, events and reverts on every backend.
"""

count: public(uint256)
owner: public(address)

event Incremented:
    by: indexed(address)
    count: uint256


@deploy
def __init__(start: uint256):
    self.count = start
    self.owner = msg.sender


@external
def increment() -> uint256:
    self.count += 1
    log Incremented(by=msg.sender, count=self.count)
    return self.count


@external
def add(amount: uint256) -> uint256:
    assert amount > 0, "amount must be positive"
    self.count += amount
    log Incremented(by=msg.sender, count=self.count)
    return self.count


@external
def reset():
    assert msg.sender == self.owner, "only the owner may reset"
    self.count = 0
