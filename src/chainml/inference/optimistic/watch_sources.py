"""Where a watchtower reads an operator's records: the service's API, C2SP tiles, a log directory.

Every source answers one question, the leaf data of leaves ``[start, end)``, and either gives
all of it or raises :class:`DataWithheldError`: a missing range, an unreachable server, a short
or malformed answer are all the same to a watcher (the data needed to check an anchored head is
not available). Nothing a source returns is trusted: the watchtower hashes it and compares with
the anchored root.

- :class:`ApiSource`: ``GET /v1/log/entries`` of a ``chainml serve`` (binary form), paged.
- :class:`TilesSource`: entry bundles of a tiled log (``chainml log export --tiles``), from a
  directory or an http(s) URL (:mod:`chainml.log.tile_source`); the bundle widths come from the
  tiles' checkpoint size, read unsigned (the chain, not the note, is the trust root here).
- :class:`LogDirSource`: a data directory's log, opened read-only (the operator's own copy).
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from chainml.errors import ChainMLError, InvalidInputError
from chainml.inference.optimistic.watch_wire import MAX_ENTRIES, MAX_RESPONSE_BYTES, decode_binary
from chainml.log import tiles
from chainml.log.checkpoint import parse_body
from chainml.log.note import MAX_NOTE_BYTES
from chainml.log.tile_export import CHECKPOINT_FILE
from chainml.log.tile_source import TileSource, TileSourceError, source_of

_TIMEOUT_S = 30.0


class DataWithheldError(ChainMLError, ConnectionError):
    """The records of ``[start, end)`` cannot be had from the source (data unavailability)."""

    exit_code: ClassVar[int] = 4

    def __init__(self, source: str, start: int, end: int, detail: str) -> None:
        self.source = source
        self.start = start
        self.end = end
        self.detail = detail
        super().__init__(f"records [{start}, {end}) are not available from {source}: {detail}")


class RecordSource(ABC):
    """The leaf data of a log's leaves, by index range."""

    name: str

    @abstractmethod
    def entries(self, start: int, end: int) -> list[bytes]:
        """Leaf data of ``[start, end)``, all of it (DataWithheldError otherwise)."""

    def close(self) -> None:
        """Release what the source holds (nothing, unless a source says otherwise)."""
        return None


class ApiSource(RecordSource):
    """A chainml service's ``/v1/log/entries``, in its binary form."""

    def __init__(self, base: str, api_key: str | None = None) -> None:
        self.base = base.rstrip("/")
        self.name = self.base
        self._headers = {"Accept": "application/octet-stream"}
        if api_key:
            self._headers["X-API-Key"] = api_key

    def entries(self, start: int, end: int) -> list[bytes]:
        """Page through ``[start, end)`` at most MAX_ENTRIES a request."""
        out: list[bytes] = []
        position = start
        while position < end:
            stop = min(end, position + MAX_ENTRIES)
            query = urllib.parse.urlencode({"start": position, "end": stop})
            page = self._get(f"{self.base}/v1/log/entries?{query}", position, stop)
            if not page:
                raise DataWithheldError(self.name, position, stop, "an empty answer")
            out.extend(page)
            position += len(page)
        return out

    def _get(self, url: str, start: int, end: int) -> list[bytes]:
        request = urllib.request.Request(url, headers=self._headers)
        limit = MAX_RESPONSE_BYTES + 4 * MAX_ENTRIES + 1
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
                body: bytes = response.read(limit)
                served = response.headers.get("X-Log-End")
        except urllib.error.HTTPError as err:
            raise DataWithheldError(self.name, start, end, f"HTTP {err.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise DataWithheldError(self.name, start, end, str(err)) from err
        if len(body) >= limit:
            raise DataWithheldError(self.name, start, end, "an answer over its size bound")
        try:
            page = decode_binary(body, end - start)
        except InvalidInputError as err:
            raise DataWithheldError(self.name, start, end, str(err)) from None
        if served is not None and served != str(start + len(page)):
            raise DataWithheldError(self.name, start, end, "X-Log-End disagrees with the body")
        return page


class TilesSource(RecordSource):
    """The entry bundles of a C2SP tiled log, in a directory or at an http(s) URL."""

    def __init__(self, location: str, source: TileSource | None = None) -> None:
        self.name = location
        self._tiles = source if source is not None else source_of(location)
        self._size: int | None = None
        self._bundles: dict[int, list[bytes]] = {}  # the last bundle read, for the next range

    def _exported_size(self, needed: int) -> int:
        if self._size is None or self._size < needed:
            try:
                note = self._tiles.read(CHECKPOINT_FILE, MAX_NOTE_BYTES)
                self._size = self._size_of(note)
            except (TileSourceError, ChainMLError) as err:
                raise DataWithheldError(self.name, 0, needed, f"no checkpoint: {err}") from None
        return self._size

    @staticmethod
    def _size_of(note: bytes) -> int:
        body = note.decode("utf-8", "replace").split("\n\n", 1)[0]
        return parse_body(body + "\n").size

    def entries(self, start: int, end: int) -> list[bytes]:
        """The bundles covering ``[start, end)``, cut to the range."""
        size = self._exported_size(end)
        if end > size:
            raise DataWithheldError(self.name, start, end, f"the tiles stop at size {size}")
        out: list[bytes] = []
        width = tiles.TILE_WIDTH
        for number in range(start // width, (end - 1) // width + 1):
            bundle = self._bundle(number, min(width, size - number * width), start, end)
            low = max(start - number * width, 0)
            high = min(end - number * width, len(bundle))
            out.extend(bundle[low:high])
        return out

    def _bundle(self, number: int, count: int, start: int, end: int) -> list[bytes]:
        cached = self._bundles.get(number)
        if cached is not None and len(cached) >= min(count, tiles.TILE_WIDTH):
            return cached
        tile = tiles.Tile(-1, number, count)
        try:
            entries = tiles.decode_bundle(self._tiles.read(tile.path, tile.max_bytes), count)
        except (TileSourceError, InvalidInputError) as err:
            raise DataWithheldError(self.name, start, end, str(err)) from None
        self._bundles = {number: entries}
        return entries


class LogDirSource(RecordSource):
    """The log of a chainml data directory, opened read-only."""

    def __init__(self, data_dir: Path) -> None:
        from chainml.log.decision_log import DecisionLog

        self.name = str(data_dir)
        self._log = DecisionLog.open(data_dir, read_only=True)

    def entries(self, start: int, end: int) -> list[bytes]:
        """Leaves ``[start, end)`` of the store."""
        store = self._log.store
        if end > store.size:
            raise DataWithheldError(self.name, start, end, f"the log has {store.size} leaves")
        return [data for _, data in store.iter_leaves(start, end)]

    def close(self) -> None:
        """Close the log."""
        self._log.close()


def record_source(text: str, api_key: str | None = None) -> RecordSource:
    """A source from what a user typed: a service URL, a tiles URL or directory, a data dir.

    ``tiles+http(s)://…`` or a directory holding a ``checkpoint`` file are tiles; another
    http(s) URL is a chainml service; a directory holding a log is a data directory.
    """
    if text.startswith("tiles+"):
        return TilesSource(text.removeprefix("tiles+"))
    if text.startswith(("http://", "https://")):
        return ApiSource(text, api_key)
    path = Path(text)
    if (path / CHECKPOINT_FILE).is_file():
        return TilesSource(text)
    from chainml.log.decision_log import LOG_FILE

    if (path / LOG_FILE).is_file():
        return LogDirSource(path)
    raise InvalidInputError(
        f"{text!r} is no record source: give a chainml service URL, a tiles directory (with a "
        "checkpoint file) or tiles+URL, or a data directory holding a log"
    )
