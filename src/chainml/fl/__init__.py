"""Federated learning on Flower, with every round committed on chain (the ``fl`` extra).

``init_federation`` prepares participants' data, ``run_federation`` runs the rounds in
Flower's simulation engine and stores the result as an ordinary chainml model whose card
links the on-chain record, ``audit_federation`` checks that record against the artifacts.
Flower and Ray are imported only when a federation runs.
"""

from __future__ import annotations

from chainml.fl.audit import AuditReport, audit_federation
from chainml.fl.federation import Federation, init_federation, load_federation
from chainml.fl.participant import Poison
from chainml.fl.run import FederationResult, RunOptions, run_federation

__all__ = [
    "AuditReport",
    "Federation",
    "FederationResult",
    "Poison",
    "RunOptions",
    "audit_federation",
    "init_federation",
    "load_federation",
    "run_federation",
]
