"""The CLI's tables (openoms.cli.tables): ids and names come out whole in a terminal of 80
columns and through a pipe, whatever else the rows hold."""

from __future__ import annotations

import io

from rich.console import Console

from openoms.cli.demo_run import SUMMARY_COLUMNS
from openoms.cli.tables import print_table

# Two rows as the demo's summary shows them: long item and fulfillment cells beside the ids.
ROWS = [
    (
        "os_01M976WBEGGNJX7YRGPRQMGD23",
        "web-uk",
        "WAITING_TO_FULFILL",
        "3× TEE-M (1 canceled, 1 returned, 1 reshipped), 2× HOODIE-M, 1× SOCKS-3",
        "112.97 GBP",
        "112.97",
        "20.55",
        "3",
        "WH-UK 3u FULFILLED SBX-DOM-7F3A9C2B1E; WH-UK-NORTH reship 1u ALLOCATED",
    ),
    (
        "os_01M976WBEJYG64FKNRW12QS1M6",
        "web-de",
        "FULFILLED",
        "1× MUG",
        "15.42 EUR",
        "15.42",
        "0.00",
        "0",
        "WH-DE 1u FULFILLED SBX-INT-00C0FFEE",
    ),
]
KEEP = ("order summary", "channel", "status")


def shown(*, terminal: bool, width: int) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=terminal, color_system=None)
    print_table(console, SUMMARY_COLUMNS, ROWS, keep=KEEP)
    return out.getvalue()


def cells_whole(text: str) -> bool:
    lines = text.splitlines()
    return all(
        any(cell in line for line in lines)
        for row in ROWS
        for name, cell in zip(SUMMARY_COLUMNS, row, strict=True)
        if name in KEEP
    )


def test_piped_rows_are_tab_separated_and_whole() -> None:
    text = shown(terminal=False, width=80)

    assert text.splitlines() == ["\t".join(SUMMARY_COLUMNS), *("\t".join(r) for r in ROWS)]


def test_an_80_column_terminal_gets_every_id_whole_within_its_width() -> None:
    text = shown(terminal=True, width=80)

    assert cells_whole(text), text
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_a_wide_terminal_gets_a_table() -> None:
    text = shown(terminal=True, width=250)

    assert cells_whole(text), text
    assert text.startswith("┏")
    assert "┃ order summary" in text


def test_markup_in_a_cell_is_styling_piped_or_not() -> None:
    out = io.StringIO()
    print_table(
        Console(file=out, force_terminal=False), ("id", "note"), [("[bold]total[/bold]", "x")]
    )

    assert out.getvalue() == "id\tnote\ntotal\tx\n"
