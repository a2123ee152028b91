"""The tamper-evident decision log: Merkle tree, records, store, anchoring and receipts."""
