# pragma version ~=0.4.3
count: public(uint256)
event Incremented:
    by: indexed(address)
    count: uint256
@external
def increment() -> uint256:
    self.count += 1
    log Incremented(by=msg.sender, count=self.count)
    return self.count
