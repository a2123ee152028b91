# pragma version ~=0.4.0
"""A vulnerable ether vault: it pays before it forgets the balance (re-entrancy)."""

balances: public(HashMap[address, uint256])

event Withdrawal:
    account: indexed(address)
    amount: uint256


@external
@payable
def deposit():
    self.balances[msg.sender] += msg.value


@external
def withdraw():
    amount: uint256 = self.balances[msg.sender]
    assert amount > 0, "nothing to withdraw"
    raw_call(msg.sender, b"", value=amount)
    log Withdrawal(account=msg.sender, amount=amount)
    self.balances[msg.sender] = 0
