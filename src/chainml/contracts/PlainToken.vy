# pragma version ~=0.4.3
"""
@title PlainToken
@notice A plain ERC-20 of the same shape as GuardedToken (2 decimals, owner mints until it
        seals the supply, the same checks on transfers) but with no statistics and no
        screening: the baseline that guarded-transfer gas is measured against.
"""

MAX_BATCH: constant(uint256) = 512

name: public(String[64])
symbol: public(String[32])
decimals: public(constant(uint8)) = 2
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
owner: public(address)
supply_sealed: public(bool)

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256


@deploy
def __init__(name: String[64], symbol: String[32]):
    self.name = name
    self.symbol = symbol
    self.owner = msg.sender


@internal
def _mint(receiver: address, amount: uint256):
    assert receiver != empty(address), "mint to the zero address"
    assert receiver != self, "mint to the token contract"
    self.balanceOf[receiver] += amount
    self.totalSupply += amount
    log Transfer(sender=empty(address), receiver=receiver, value=amount)


@external
def mint(receiver: address, amount: uint256):
    assert msg.sender == self.owner, "only the owner"
    assert not self.supply_sealed, "supply is sealed"
    self._mint(receiver, amount)


@external
def mint_batch(receivers: DynArray[address, MAX_BATCH], amounts: DynArray[uint256, MAX_BATCH]):
    assert msg.sender == self.owner, "only the owner"
    assert not self.supply_sealed, "supply is sealed"
    assert len(receivers) == len(amounts), "receivers and amounts differ in length"
    for i: uint256 in range(len(receivers), bound=MAX_BATCH):
        self._mint(receivers[i], amounts[i])


@external
def seal_supply():
    assert msg.sender == self.owner, "only the owner"
    self.supply_sealed = True


@internal
def _transfer(sender: address, receiver: address, amount: uint256):
    assert receiver != empty(address), "transfer to the zero address"
    assert receiver != self, "transfer to the token contract"
    balance: uint256 = self.balanceOf[sender]
    assert amount <= balance, "insufficient balance"
    self.balanceOf[sender] = balance - amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=sender, receiver=receiver, value=amount)


@external
def transfer(receiver: address, amount: uint256) -> bool:
    self._transfer(msg.sender, receiver, amount)
    return True


@external
def transferFrom(owner: address, receiver: address, amount: uint256) -> bool:
    allowed: uint256 = self.allowance[owner][msg.sender]
    assert amount <= allowed, "insufficient allowance"
    if allowed != max_value(uint256):
        self.allowance[owner][msg.sender] = allowed - amount
    self._transfer(owner, receiver, amount)
    return True


@external
def approve(spender: address, amount: uint256) -> bool:
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, value=amount)
    return True
