"""The scoring service: score live traffic, log each decision durably, anchor it, give receipts.

:func:`create_app` builds the FastAPI application from :class:`~chainml.config.Settings` and
:class:`ServiceOptions`; ``chainml serve`` runs it with uvicorn. FastAPI and uvicorn come with
the ``serve`` extra and are imported on first use of :func:`create_app`, so importing
``chainml.service`` (or its options) does not load them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chainml._lazy import lazy_exports

if TYPE_CHECKING:
    from chainml.service.app import create_app
    from chainml.service.options import ServiceOptions

_EXPORTS = {
    "ServiceOptions": "chainml.service.options",
    "create_app": "chainml.service.app",
}

__all__ = ["ServiceOptions", "create_app"]

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
