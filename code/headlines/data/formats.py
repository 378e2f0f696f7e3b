"""Readers for every supported headline format, chosen per file by looking at its first line.

Formats (each file may be gzip-compressed; a channel may mix files of different formats):
- ``uci``: the UCI News Aggregator newsCorpora.csv layout: 8 tab-separated columns, no header, no quoting:
  ID TITLE URL PUBLISHER CATEGORY STORY HOSTNAME TIMESTAMP. STORY groups near-duplicate headlines.
- ``tsv``: ``text<TAB>label`` lines (an optional ``text<TAB>label`` header line is skipped).
- ``csv``: RFC 4180 CSV with a header naming the text column (title/headline/text) and the label column
  (category/label); an optional story column groups rows. One row per line, as BigQuery (allow_quoted_newlines
  off), Spark (multiLine off) and SageMaker's text/csv read CSV: a quote left open is one bad row, where a quoted
  field allowed to span lines would swallow the rows after it.
- ``jsonl``: JSON Lines objects with the same keys.
- ``fasttext``: ``__label__X text`` lines (the first label of a line is used).
"""

import collections
import csv
import dataclasses
import json
import logging
import os
from collections.abc import Collection, Container, Iterable, Iterator
from typing import Any, TypeAlias

from ..errors import JobError
from ..files import GZIP_ERRORS, READ_ERRORS, list_files, open_text

logger = logging.getLogger(__name__)

TEXT_KEYS = ("title", "headline", "text")
LABEL_KEYS = ("category", "label")
GROUP_KEYS = ("story",)
FASTTEXT_LABEL_PREFIX = "__label__"
UCI_COLUMNS = 8
TSV_COLUMNS = 2  # text<TAB>label
UCI_TITLE, UCI_CATEGORY, UCI_STORY = 1, 4, 5
# Category codes of the UCI News Aggregator data set (its readme) -> readable names.
UCI_CATEGORY_NAMES = {"b": "business", "t": "science and technology", "e": "entertainment", "m": "health"}
BAD_ROW_EXAMPLES_KEPT = 5


@dataclasses.dataclass(frozen=True)
class Example:
    text: str
    label: str
    group: str | None = None  # story id: near-duplicates share one, and a split must keep them together


class _BadRow(ValueError):
    pass


# A row as a reader found it: (text, label, group), before read_file checks them (a JSON Lines record's values may
# be of any JSON type; group is None without a story column).
RawRow: TypeAlias = tuple[object, object, object]
# What the readers yield: the row's line number, and the row or why it was rejected.
NumberedRow: TypeAlias = tuple[int, RawRow | _BadRow]


@dataclasses.dataclass
class ReadReport:
    """What reading a channel found: rows kept, rows rejected (with a few examples), formats seen."""

    channel: str
    rows: int = 0
    bad_rows: int = 0
    bad_examples: list[str] = dataclasses.field(default_factory=list)
    formats: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)

    def reject(self, where: str, reason: str) -> None:
        self.bad_rows += 1
        if len(self.bad_examples) < BAD_ROW_EXAMPLES_KEPT:
            self.bad_examples.append(f"{where}: {reason}")

    def reject_kept_row(self, where: str, reason: str) -> None:
        """A row that read well but cannot be used after all (a label train never saw)."""
        self.rows -= 1
        self.reject(where, reason)

    def enforce(self, max_bad_row_fraction: float) -> None:
        if self.bad_fraction > max_bad_row_fraction:
            raise JobError(
                f"Channel '{self.channel}' has {self.bad_rows} malformed rows out of "
                f"{self.rows + self.bad_rows} ({self.bad_fraction:.1%}), more than "
                f"max_bad_row_fraction={max_bad_row_fraction}. First: {'; '.join(self.bad_examples)}"
            )

    @property
    def bad_fraction(self) -> float:
        total = self.rows + self.bad_rows
        return self.bad_rows / total if total else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "bad_rows": self.bad_rows,
            "bad_row_examples": list(self.bad_examples),
            "formats": dict(self.formats),
        }


def detect_format(first_line: str, path: str = "") -> str:
    line = first_line.rstrip("\r\n")
    stripped = line.lstrip("\ufeff").strip()
    if stripped.startswith("{"):
        return "jsonl"
    if stripped.startswith(FASTTEXT_LABEL_PREFIX):
        return "fasttext"
    if "\t" in line:
        columns = line.split("\t")
        if len(columns) == UCI_COLUMNS:
            return "uci"
        if len(columns) == TSV_COLUMNS:
            return "tsv"
    header = _csv_header(line)
    if any(k in header for k in TEXT_KEYS) and any(k in header for k in LABEL_KEYS):
        return "csv"
    raise JobError(
        f"Cannot tell the format of {path}: its first line is neither the UCI newsCorpora layout "
        f"(8 tab-separated columns), text<TAB>label, a CSV header naming title/headline/text and "
        f"category/label, a JSON object, nor a fastText __label__ line: {line[:120]!r}."
    )


def _first_key(mapping: Container[str], keys: Iterable[str]) -> str | None:
    for key in keys:
        if key in mapping:
            return key
    return None


def _rows_uci(lines: Iterable[tuple[int, str]]) -> Iterator[NumberedRow]:
    for number, line in lines:
        columns = line.split("\t")
        if len(columns) != UCI_COLUMNS:
            yield number, _BadRow(f"expected {UCI_COLUMNS} tab-separated columns, found {len(columns)}")
            continue
        yield number, (columns[UCI_TITLE], columns[UCI_CATEGORY], columns[UCI_STORY])


def _rows_tsv(lines: Iterable[tuple[int, str]]) -> Iterator[NumberedRow]:
    for index, (number, line) in enumerate(lines):
        columns = line.split("\t")
        if len(columns) != TSV_COLUMNS:
            yield number, _BadRow(f"expected text<TAB>label, found {len(columns)} tab-separated columns")
            continue
        if index == 0 and columns[0].strip().lower() in TEXT_KEYS and columns[1].strip().lower() in LABEL_KEYS:
            continue  # a header: the first line that is not blank
        yield number, (columns[0], columns[1], None)


def _rows_fasttext(lines: Iterable[tuple[int, str]]) -> Iterator[NumberedRow]:
    for number, line in lines:
        words = line.split()
        labels = [w for w in words if w.startswith(FASTTEXT_LABEL_PREFIX)]
        text = " ".join(w for w in words if not w.startswith(FASTTEXT_LABEL_PREFIX))
        if not labels:
            yield number, _BadRow("no __label__ on the line")
            continue
        yield number, (text, labels[0][len(FASTTEXT_LABEL_PREFIX) :], None)


def _rows_jsonl(lines: Iterable[tuple[int, str]]) -> Iterator[NumberedRow]:
    for number, line in lines:
        try:
            record = json.loads(line)
        except ValueError as e:
            yield number, _BadRow(f"not valid JSON ({e})")
            continue
        except RecursionError:  # what json.loads raises for nesting deeper than the interpreter's recursion limit
            yield number, _BadRow("JSON nested too deeply")
            continue
        if not isinstance(record, dict):
            yield number, _BadRow("not a JSON object")
            continue
        text_key, label_key = _first_key(record, TEXT_KEYS), _first_key(record, LABEL_KEYS)
        if text_key is None or label_key is None:
            yield number, _BadRow(f"needs a text key ({'/'.join(TEXT_KEYS)}) and a label key ({'/'.join(LABEL_KEYS)})")
            continue
        group_key = _first_key(record, GROUP_KEYS)
        yield number, (record[text_key], record[label_key], record[group_key] if group_key else None)


def _csv_header(line: str) -> list[str]:
    """A CSV header line's column names, lower-cased: how detect_format and the CSV reader both read it."""
    try:
        return [cell.strip().lower() for cell in next(csv.reader([line.lstrip("\ufeff").strip()]), [])]
    except csv.Error:  # a field over csv.field_size_limit(): not a header
        return []


def _csv_cells(line: str) -> list[str] | None:
    """The cells of one CSV line, or None when a quoted field does not end on it."""
    reader = csv.reader([line, ""])  # the empty line: where an open quote would carry the record on to
    cells = next(reader)
    return cells if reader.line_num == 1 else None


def _rows_csv(lines: Iterable[tuple[int, str]]) -> Iterator[NumberedRow]:
    numbered = iter(lines)
    # The header is the first line that is not blank: the one detect_format found both keys in.
    header = _csv_header(next(numbered)[1])
    text_key, label_key = _first_key(header, TEXT_KEYS), _first_key(header, LABEL_KEYS)
    assert text_key is not None and label_key is not None, "detect_format found both in this header"
    text_col = header.index(text_key)
    label_col = header.index(label_key)
    group_key = _first_key(header, GROUP_KEYS)
    group_col = header.index(group_key) if group_key else None
    for number, line in numbered:
        try:
            row = _csv_cells(line)
        except csv.Error as e:  # a field over csv.field_size_limit()
            yield number, _BadRow(f"not a CSV row ({e})")
            continue
        if row is None:
            yield number, _BadRow("unmatched quote: a quoted field must end on its line")
            continue
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            yield number, _BadRow(f"expected {len(header)} columns, found {len(row)}")
            continue
        yield number, (row[text_col], row[label_col], row[group_col] if group_col is not None else None)


_READERS = {"uci": _rows_uci, "tsv": _rows_tsv, "fasttext": _rows_fasttext, "jsonl": _rows_jsonl, "csv": _rows_csv}


def _numbered_lines(handle: Iterable[str]) -> Iterator[tuple[int, str]]:
    """The lines that are not blank, numbered from 1, without their line break (nor the first one's BOM)."""
    for number, line in enumerate(handle, start=1):
        line = line.rstrip("\r\n")
        if number == 1:
            line = line.lstrip("\ufeff")
        if line.strip():
            yield number, line


def _unencodable(text: str, label: str) -> str | None:
    """Why text or label cannot be written as UTF-8, as the model files are (a JSON Lines escape of a lone
    surrogate), or None when both can."""
    for field, value in (("text", text), ("label", label)):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:
            return f"the {field} holds {value[e.start]!r}, a lone surrogate that UTF-8 cannot encode"
    return None


def read_file(path: str, report: ReadReport) -> Iterator[Example]:
    """Yield the Examples of one file, counting every rejected row in report."""
    name = os.path.relpath(path)
    try:
        with open_text(path) as handle:
            first = next(_numbered_lines(handle), None)
            if first is None:
                logger.warning("%s is empty", name)
                return
            kind = detect_format(first[1], name)
            report.formats[kind] += 1
            handle.seek(0)
            rows = _READERS[kind](_numbered_lines(handle))
            for number, row in rows:
                if isinstance(row, _BadRow):
                    report.reject(f"{name}:{number}", str(row))
                    continue
                text, label, group = row
                text = text.strip() if isinstance(text, str) else None
                label = str(label).strip() if isinstance(label, (str, int)) else None
                if not text:
                    report.reject(f"{name}:{number}", "empty text")
                    continue
                if not label:
                    report.reject(f"{name}:{number}", "empty label")
                    continue
                unencodable = _unencodable(text, label)
                if unencodable:
                    report.reject(f"{name}:{number}", unencodable)
                    continue
                report.rows += 1
                yield Example(text, label, str(group) if group not in (None, "") else None)
    except UnicodeDecodeError as e:
        raise JobError(f"{name} is not UTF-8 text ({e.reason} at byte {e.start}).") from e
    except GZIP_ERRORS as e:
        raise JobError(f"Cannot read {name}: it is a damaged or truncated gzip file ({e}).") from e
    except READ_ERRORS as e:
        raise JobError(f"Cannot read {name}: {e}.") from e


def read_channel(channel: str, folder: str, max_bad_row_fraction: float) -> tuple[list[Example], ReadReport]:
    """Read every file of a channel; fail when it is empty or has too many malformed rows."""
    files = list_files(folder)
    if not files:
        raise JobError(f"Channel '{channel}' has no files in {folder}.")
    report = ReadReport(channel)
    examples = [example for path in files for example in read_file(path, report)]
    if report.bad_rows:
        logger.warning(
            "channel %s: %d of %d rows are malformed and were not used; for example: %s",
            channel,
            report.bad_rows,
            report.rows + report.bad_rows,
            "; ".join(report.bad_examples),
        )
    report.enforce(max_bad_row_fraction)
    if not examples:
        raise JobError(f"Channel '{channel}' holds no usable rows in {len(files)} file(s).")
    logger.info(
        "channel %s: %d rows from %d file(s), formats %s", channel, report.rows, len(files), dict(report.formats)
    )
    return examples, report


def label_names(labels: Collection[str]) -> dict[str, str]:
    """Readable names for label codes: the UCI category names when the labels are exactly UCI's codes."""
    if set(labels) <= set(UCI_CATEGORY_NAMES):
        return {label: UCI_CATEGORY_NAMES[label] for label in labels}
    return {label: label for label in labels}
