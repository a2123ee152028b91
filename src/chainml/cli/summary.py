"""The summary table a long CLI command prints at the end: facts collected by its steps."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.table import Table


@dataclass
class Summary:
    """The facts the steps collected, shown as one table at the end."""

    rows: list[tuple[str, str]] = field(default_factory=list)

    def add(self, label: str, value: object) -> None:
        """Record one fact."""
        self.rows.append((label, str(value)))

    def table(self) -> Table:
        """The facts as a rich table."""
        table = Table(title="chainml demo", show_header=False, title_justify="left")
        table.add_column("fact", style="bold")
        table.add_column("value", overflow="fold")
        for label, value in self.rows:
            table.add_row(label, value)
        return table
