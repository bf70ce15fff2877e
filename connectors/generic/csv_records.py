"""Reading an upload's CSV records reliably, or refusing the file naming the line.

A quote left open or closed mid-cell, a cell over ``MAX_CELL_CHARS`` characters or holding
a NUL, and a cell that spans lines and holds a comma (what a quote left open looks like
when a later quote happens to close it) refuse the file whole (``CsvStructureError``).
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator

from omniroute.connectors.base import PayloadError

#: The longest cell a CSV upload may hold, in characters.
MAX_CELL_CHARS = 10_000


class CsvStructureError(PayloadError):
    """The CSV cannot be read reliably; ``line`` is where the offending record starts."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"line {line}: {problem}")
        self.line = line


# A record as read: its spreadsheet row, the line of the file it starts on, its cells.
Record = tuple[int, int, list[str]]


def records(text: str) -> Iterator[Record]:
    """Each record with its row and first line; raises ``CsvStructureError``."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    for row in itertools.count(1):
        line = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CsvStructureError(line, _csv_problem(str(exc), line, reader.line_num)) from None
        for cell in record:
            _check_cell(cell, line, reader.line_num)
        yield row, line, record


def _csv_problem(message: str, line: int, at: int) -> str:
    """What the csv module's complaint means for whoever fixes the file."""
    if "field larger than field limit" in message:
        return f"a cell is longer than {MAX_CELL_CHARS:,} characters"
    if "unexpected end of data" in message:
        return "a quote opened in this row is never closed"
    if "expected after" in message:
        where = "" if at == line else f" (on line {at})"
        return (
            f"a quote closes in the middle of a cell{where}; inside a quoted cell write a "
            'quote as two quotes ("")'
        )
    return f"the CSV cannot be read: {message}"


def _check_cell(cell: str, line: int, last: int) -> None:
    if len(cell) > MAX_CELL_CHARS:
        raise CsvStructureError(line, f"a cell is longer than {MAX_CELL_CHARS:,} characters")
    if "\x00" in cell:
        raise CsvStructureError(line, "a cell holds a NUL character")
    if last > line and "," in cell and ("\n" in cell or "\r" in cell):
        raise CsvStructureError(
            line,
            f"a quoted cell runs on to line {last} and holds commas: a closing quote is "
            "probably missing, which would make the rows below part of this cell (a cell "
            "may span lines only when it holds no comma)",
        )
