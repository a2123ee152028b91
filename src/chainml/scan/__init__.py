"""Contract screening: compile (solcjs, Vyper), extract features, score per category, log receipts.

``scan_path`` / ``scan_source`` / ``scan_address`` return a :class:`ScanReport`; its
``log_to(log)`` writes one decision per file and attaches receipts. Heavy modules load lazily.
"""

from __future__ import annotations

from chainml._lazy import lazy_exports

_EXPORTS = {
    "scan_path": "chainml.scan.scanner",
    "scan_source": "chainml.scan.scanner",
    "scan_address": "chainml.scan.scanner",
    "ScanReport": "chainml.scan.report",
    "FileScan": "chainml.scan.report",
    "Finding": "chainml.scan.report",
    "check_file_receipt": "chainml.scan.report",
    "ScanModel": "chainml.scan.model",
    "load_model": "chainml.scan.model",
    "UnknownCompilerVersionError": "chainml.scan.errors",
    "CATEGORIES": "chainml.scan.categories",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
