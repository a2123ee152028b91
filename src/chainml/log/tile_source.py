"""Where a mirror reads a tiled log from: a directory or an http(s) URL, every read bounded."""

from __future__ import annotations

import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from chainml.errors import ChainMLError, InvalidInputError

_TIMEOUT_S = 30.0


class TileSourceError(ChainMLError, ConnectionError):
    """A file of the tiled log cannot be read from its source (missing, unreachable, too big)."""

    exit_code: ClassVar[int] = 4

    def __init__(self, source: str, path: str, detail: str) -> None:
        self.source = source
        self.path = path
        self.detail = detail
        super().__init__(f"cannot read {path} from {source}: {detail}")


class TileSource(ABC):
    """A read-only view of a tiled log's files, by their path relative to the log's prefix."""

    @abstractmethod
    def read(self, path: str, max_bytes: int) -> bytes:
        """The file's bytes; a TileSourceError if it is missing or over ``max_bytes``."""


class DirectorySource(TileSource):
    """Tiles exported to a local directory (``chainml log export --tiles``)."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise InvalidInputError(f"{root} is not a directory")
        self.root = root

    def read(self, path: str, max_bytes: int) -> bytes:
        """The file ``root/path``, at most ``max_bytes``."""
        try:
            with (self.root / path).open("rb") as handle:
                data = handle.read(max_bytes + 1)
        except OSError as err:
            raise TileSourceError(str(self.root), path, str(err)) from err
        if len(data) > max_bytes:
            raise TileSourceError(str(self.root), path, f"over {max_bytes} bytes")
        return data


class HttpSource(TileSource):
    """Tiles served over http(s) under ``base`` (any static server or CDN)."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/") + "/"

    def read(self, path: str, max_bytes: int) -> bytes:
        """GET ``base/path`` (http or https: see :func:`source_of`), at most ``max_bytes``."""
        try:
            with urllib.request.urlopen(self.base + path, timeout=_TIMEOUT_S) as response:
                data: bytes = response.read(max_bytes + 1)
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise TileSourceError(self.base, path, str(err)) from err
        if len(data) > max_bytes:
            raise TileSourceError(self.base, path, f"over {max_bytes} bytes")
        return data


def source_of(text: str) -> TileSource:
    """An http(s) URL, or a directory path."""
    if text.startswith(("http://", "https://")):
        return HttpSource(text)
    if "://" in text:
        raise InvalidInputError(f"{text!r}: only http(s) URLs and directories are mirrored")
    return DirectorySource(Path(text))
