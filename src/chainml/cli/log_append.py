"""``chainml log append``: JSON Lines decisions (a file or stdin) into the log, all or nothing."""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from rich.progress import Progress, TaskID

from chainml.cli import console, settings_of
from chainml.cli.log import open_log
from chainml.errors import InvalidInputError
from chainml.log.jsonl_append import append_jsonl
from chainml.log.record import hex32


def append(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="JSON Lines, one decision per line; - is stdin.")],
    model_id: Annotated[
        str | None, typer.Option("--model-id", help="Model id (0x + 64 hex) for lines without one.")
    ] = None,
) -> None:
    """Append decisions from a JSON Lines file; all or nothing.

    Each line: {"request_id", "score", "label", "model_id"?, "features"? [ints],
    "input_commitment"?, "metadata"? {...}, "timestamp_ms"?}. The input is read once (a pipe
    works); nothing is written unless every line is valid and its request id new.
    """
    default_model = hex32(model_id, "--model-id") if model_id else None
    with open_log(ctx) as log, _opened(file) as stream, _TwoPasses() as passes:
        count = append_jsonl(
            log,
            stream,
            name=str(file),
            default_model=default_model,
            data_dir=settings_of(ctx).data_dir,
            on_checked=passes.checked,
            on_written=passes.written,
        )
        head = log.head()
    console().print(f"appended {count} decisions; log size {head.size}, root 0x{head.root.hex()}")


class _TwoPasses(Progress):
    """Progress of the check pass (lines so far), then of the write pass (a bar)."""

    def __init__(self) -> None:
        super().__init__(console=console(), transient=True)
        self._checking = self.add_task("checking", total=None)
        self._total = 0
        self._writing: TaskID | None = None

    def checked(self, count: int) -> None:
        self._total += count
        self.advance(self._checking, count)

    def written(self, count: int) -> None:
        if self._writing is None:
            self.remove_task(self._checking)
            self._writing = self.add_task("appending", total=self._total)
        self.advance(self._writing, count)


def _opened(file: Path) -> AbstractContextManager[BinaryIO]:
    if str(file) == "-":
        return nullcontext(sys.stdin.buffer)  # not closed: it is not ours
    try:
        return file.open("rb")
    except OSError as err:
        raise InvalidInputError(f"cannot read {file}: {err.strerror or err}") from err
