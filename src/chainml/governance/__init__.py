"""On-chain model governance: the model registry and the governor that approves models."""
