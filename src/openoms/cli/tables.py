"""Tables on the console that never cut what a reader copies (ids, names), in a terminal of
any width or through a pipe."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

UNLIMITED = 1_000_000


def print_table(
    out: Console,
    columns: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    keep: Collection[str] = (),
) -> None:
    """Rows under their column names, never cutting a value of the `keep` columns (ids,
    names: what a reader copies). Piped or redirected: tab-separated lines with a header,
    whole, for grep and cut. In a terminal: a table whose `keep` columns never wrap, the
    others wrapping around them; when the terminal is too narrow for that, one block of
    `column  value` lines per row. Cells may hold console markup."""
    cells = [[Text.from_markup(cell) for cell in row] for row in rows]
    if not out.is_terminal:  # plain text, written as is: rich would expand the tabs
        lines = [columns, *([cell.plain.replace("\t", " ") for cell in row] for row in cells)]
        out.file.write("".join("\t".join(line) + "\n" for line in lines))
        return
    table = Table(*columns)
    for column in table.columns:
        if column.header in keep:
            index = columns.index(str(column.header))
            widest = max((row[index].cell_len for row in cells), default=0)
            column.no_wrap, column.min_width = True, max(widest, len(str(column.header)))
    for row in cells:
        table.add_row(*row)
    # Measured against unlimited room: rich clamps a measurement to the width it is given.
    if Measurement.get(out, out.options.update_width(UNLIMITED), table).minimum <= out.width:
        out.print(table)
        return
    for row in cells:
        block = Table.grid(padding=(0, 2))
        block.add_column(no_wrap=True, style="bold")
        block.add_column()
        for name, cell in zip(columns, row, strict=True):
            block.add_row(name, cell)
        out.print(block)
        out.print()
