"""The Python API that mirrors the CLI: datasets, models, the decision log, receipts, the service.

A thin facade over the library (``chainml.models``, ``chainml.governance``, ``chainml.log``,
``chainml.service``): each method is what one CLI command does, and the CLI calls it. The
names are exported by ``chainml`` itself (``chainml.Dataset``, ``chainml.Model``, ...) and
imported on first use, so ``import chainml`` stays light.
"""
