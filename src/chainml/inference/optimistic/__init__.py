"""Optimistic verification: off-chain scores, on-chain commitments, challenges and a watchtower."""
