"""Inference modes: fixed-point models evaluated bit-exactly in Python and inside the EVM."""
