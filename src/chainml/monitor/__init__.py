"""Following a chain: blocks, features, detectors, alerts into the decision log."""
