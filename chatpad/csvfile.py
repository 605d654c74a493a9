"""The one CSV writer: every CSV the product writes (admin exports of every model, analytics) goes through it.

Spreadsheets run a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return as a formula
(``=HYPERLINK(...)`` in a knowledge item's title, a customer's name, a platform's error text). Following OWASP's CSV
injection guidance such a text cell is prefixed with a single quote, which spreadsheets show as plain text.
Numbers are written as numbers.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """The value as a spreadsheet will show it, never run it: text starting like a formula gets a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class SafeWriter:
    """``csv.writer`` whose rows are escaped against formula injection; ``writerow`` returns what the file's
    ``write`` returned (so a streaming echo file works as with the plain writer)."""

    def __init__(self, fileobj: Any) -> None:
        self._writer = csv.writer(fileobj)

    def writerow(self, row: Iterable[Any]) -> Any:
        """Write one row, each cell through ``safe_cell``."""
        return self._writer.writerow([safe_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        """Write every row through ``writerow``."""
        for row in rows:
            self.writerow(row)


def writer(fileobj: Any) -> SafeWriter:
    """The product's CSV writer over ``fileobj``."""
    return SafeWriter(fileobj)
