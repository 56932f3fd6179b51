"""The one reader of delimited text tables (CSV / TSV with a header row), for every layer (core).

The builder's tag, lyrics and label tables and the MTAT predictions files all go through
``read_delimited``: UTF-8 (BOM accepted), tab-separated when the header line holds a tab,
quoted fields, blank rows skipped, errors as DatasetError naming the file and line.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from typing import Dict, List, Optional, Sequence, Tuple

import tensorflow as tf

from musictag_tf.errors import DatasetError


def _read_text(path: str, what: str) -> str:
    if not tf.io.gfile.exists(path):
        raise DatasetError(f"{path}: {what} not found")
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            data = f.read()
    except tf.errors.OpError as exc:
        raise DatasetError(f"{path}: cannot read {what}: {exc.message}") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: {what} is not UTF-8 text (byte {exc.start})") from exc


@dataclasses.dataclass
class Table:
    """A delimited text table: lower-cased header names and rows as dicts, with line numbers."""

    path: str
    header: List[str]  # lower-cased, stripped
    rows: List[Tuple[int, Dict[str, str]]]  # (line number, lower-cased header -> field)
    raw_header: List[str] = dataclasses.field(default_factory=list)  # as written (stripped)

    def column(self, names: Sequence[str], required: bool = False, what: str = "") -> Optional[str]:
        """The first of ``names`` present in the header; DatasetError if required and absent."""
        for name in names:
            if name in self.header:
                return name
        if required:
            raise DatasetError(
                f"{self.path}: missing column {names[0]!r}{' (' + what + ')' if what else ''}; "
                f"accepted names: {', '.join(names)}; the header has: {', '.join(self.header)}")
        return None


def read_delimited(path: str, what: str = "table") -> Table:
    """Read a CSV/TSV with a header row (tab-separated if the header holds a tab).

    DatasetError names the file (and line) when it is missing, not UTF-8, empty, has duplicate
    columns or a row with the wrong number of fields. Blank rows are skipped.
    """
    text = _read_text(path, what)
    first_line = text.split("\n", 1)[0]
    if not first_line.strip():
        raise DatasetError(f"{path}: {what} is empty or has no header row")
    delimiter = "\t" if "\t" in first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"')
    try:
        raw_header = [h.strip() for h in next(reader)]
        header = [h.lower() for h in raw_header]
        duplicates = sorted({h for h in header if header.count(h) > 1})
        if duplicates:
            raise DatasetError(f"{path}: duplicate columns {duplicates}")
        rows = []
        for fields in reader:
            line = reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue
            if len(fields) != len(header):
                raise DatasetError(f"{path}:{line}: {len(fields)} fields, the header has {len(header)}")
            rows.append((line, dict(zip(header, fields))))
    except csv.Error as exc:
        raise DatasetError(f"{path}:{reader.line_num}: malformed {what}: {exc}") from exc
    return Table(path=path, header=header, rows=rows, raw_header=raw_header)
