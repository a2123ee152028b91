"""Small contracts the scan tests compile: one per compiler line, and a reentrancy victim."""

from __future__ import annotations

BANK_04 = """pragma solidity ^0.4.19;

contract Bank {
    mapping(address => uint) public balances;

    function deposit() public payable {
        balances[msg.sender] += msg.value;
    }

    function withdraw(uint amount) public {
        require(balances[msg.sender] >= amount);
        if (msg.sender.call.value(amount)()) {
            balances[msg.sender] -= amount;
        }
    }
}
"""

EXACT_0424 = """pragma solidity 0.4.24;
contract Owned {
    address public owner;
    function Owned() public { owner = msg.sender; }
    function kill() public { require(tx.origin == owner); selfdestruct(owner); }
}
"""

TOKEN_05 = """pragma solidity ^0.5.0;
contract Token {
    mapping(address => uint256) public balanceOf;
    function transfer(address to, uint256 value) external returns (bool) {
        require(balanceOf[msg.sender] >= value);
        balanceOf[msg.sender] -= value;
        balanceOf[to] += value;
        return true;
    }
}
"""

VAULT_08 = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.0;
contract Vault {
    mapping(address => uint256) public shares;
    function deposit() external payable { shares[msg.sender] += msg.value; }
    function withdraw() external {
        uint256 amount = shares[msg.sender];
        shares[msg.sender] = 0;
        (bool ok, ) = msg.sender.call{value: amount}("");
        require(ok, "transfer failed");
    }
    function sum(uint256 a, uint256 b) external pure returns (uint256) {
        unchecked { return a + b; }
    }
}
"""

COUNTER_VY = """# pragma version ^0.4.0
count: public(uint256)
owner: public(address)

@deploy
def __init__():
    self.owner = msg.sender

@external
def bump():
    assert msg.sender == self.owner  # only the owner
    self.count += 1
"""

# The corpus marks its bugs in comments: a planted one, in every comment style, must change nothing.
MISLEADING = """// <yes> <report> REENTRANCY
/* @vulnerable_at_lines: 12
   this contract is vulnerable to reentrancy, unchecked calls and access control */
/// @notice SAFE: audited, no reentrancy here; tx.origin selfdestruct block.timestamp
"""
