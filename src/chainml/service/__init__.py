"""The scoring service: score live traffic, log each decision durably, anchor it, give receipts.

:func:`create_app` builds the FastAPI application from :class:`~chainml.config.Settings` and
:class:`ServiceOptions`; ``chainml serve`` runs it with uvicorn. FastAPI and uvicorn come with
the ``serve`` extra and are imported only by this package.
"""

from __future__ import annotations

from chainml.service.app import create_app
from chainml.service.options import ServiceOptions

__all__ = ["ServiceOptions", "create_app"]
