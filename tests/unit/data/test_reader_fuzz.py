"""read_channel on generated channels: files of every format (gzip or not) whose good rows are mixed with hostile
lines and bytes, cut short, or with bytes flipped inside the gzip stream. Whatever they hold, reading ends in either
the rows with every other line counted as a bad row, or a JobError of one sentence: never another exception, and
never a good row lost without a count (a row after a hostile line is still read)."""

import csv
import dataclasses
import gzip
import io
import json
import re
import zlib

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from headlines.data.formats import read_channel
from headlines.errors import JobError
from headlines.files import GZIP_MAGIC

HOSTILE_LINES = [
    '"broken,b',  # an unmatched CSV quote
    '"Apple, Inc. ""beats"" views,t',  # ... with doubled quotes and a comma
    '{"text": ' + "[" * 5000,  # nesting deeper than json.loads recurses
    r'{"headline": "x", "label": "\ud800"}',  # a lone surrogate in the label
    r'{"headline": "x \udfff y", "label": "b"}',  # ... in the text
    '{"headline": "x", "label": ""}',
    "{broken",
    "[1, 2]",
    "not\ta\tvalid\trow",
    "just\ttoo\tmany\ttabs\tfor\ta\ttsv\tor\tuci",
    "__label__",
    "\x00\x00\x00",
    "x\ry",  # a lone carriage return is a line break
    "\u2028",  # a blank line to str.strip
    "q" * 140_000,  # a CSV field over csv.field_size_limit()
]
# Not UTF-8: a file holding any of these fails as a whole.
HOSTILE_BYTES = [b"Caf\xe9 latin-1\tb", b"\x93cp1252 quotes\x94,b", b"\xff\xfeu\x00t\x00f\x001\x006\x00", b"\xc3"]
LABELS = ["b", "e", "m", "t", "sci-fi", "ünï"]
WORD = st.text(alphabet="abcxyzABC019éß漢,;'\".-!?{}[]#", min_size=1, max_size=8)
JUNK = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=20).map("~".__add__)
FORMATS = ["uci", "tsv", "fasttext", "jsonl", "csv"]


@dataclasses.dataclass
class GeneratedFile:
    data: bytes  # the file as written
    content: bytes  # what it holds once gunzipped (cut short where it was)
    good: list[tuple[str, str]]  # the (text, label) of the good rows that are intact in content
    header_lines: int  # lines of content that are a header, not rows


def _good_line(kind: str, number: int, text: str, label: str, ascii_json: bool) -> str:
    if kind == "uci":
        return f"{number}\t{text}\thttp://x/{number}\tPub\t{label}\tstory{number}\tx.com\t0"
    if kind == "tsv":
        return f"{text}\t{label}"
    if kind == "fasttext":
        return f"__label__{label} {text}"
    if kind == "jsonl":
        return json.dumps({"headline": text, "label": label, "story": number}, ensure_ascii=ascii_json)
    line = io.StringIO()
    csv.writer(line, lineterminator="").writerow([number, text, label])
    return line.getvalue()


@st.composite
def generated_files(draw: st.DrawFn) -> GeneratedFile:
    kind = draw(st.sampled_from(FORMATS))
    newline = draw(st.sampled_from(["\n", "\r\n"])).encode()
    head = ("\ufeff" if draw(st.booleans()) else "") + newline.decode() * draw(st.integers(0, 2))
    header = {"csv": ["id,headline,category"], "tsv": ["text\tlabel"] if draw(st.booleans()) else []}.get(kind, [])
    lines = [(line.encode(), None) for line in header]
    items = draw(st.lists(st.one_of(st.just(None), st.sampled_from(HOSTILE_LINES), JUNK), max_size=12))
    if items and draw(st.integers(0, 3)) == 0:  # in a quarter of the files, a line in another encoding
        items[draw(st.integers(0, len(items) - 1))] = draw(st.sampled_from(HOSTILE_BYTES))
    for number, item in enumerate([None, *items]):  # the first row is good: it tells the format
        if item is None:
            row = (
                f"r{number} " + " ".join(draw(st.lists(WORD, min_size=1, max_size=4))),
                draw(st.sampled_from(LABELS)),
            )
            lines.append((_good_line(kind, number, *row, draw(st.booleans())).encode(), row))
        else:
            lines.append((item if isinstance(item, bytes) else item.encode(), None))
    content, ends = head.encode(), []
    for line, row in lines:
        content += line + newline
        ends.append((len(content) - len(newline), row))
    first_row_end = ends[len(header)][0] + len(newline)
    if draw(st.booleans()):  # cut short, anywhere after the first row
        content = content[: draw(st.integers(first_row_end, len(content)))]
    good = [row for end, row in ends if row is not None and end <= len(content)]
    data = gzip.compress(content, mtime=0) if draw(st.booleans()) else content
    damage = draw(st.sampled_from(["none", "none", "cut", "flip"]))
    if data[:2] == GZIP_MAGIC and damage == "cut":  # still a gzip file: one without its magic is a plain file
        data = data[: draw(st.integers(len(GZIP_MAGIC), len(data)))]
    if data[:2] == GZIP_MAGIC and damage == "flip":
        for _ in range(draw(st.integers(1, 2))):
            at = draw(st.integers(len(GZIP_MAGIC), len(data) - 1))
            data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
    return GeneratedFile(data, content, good, len(header))


def _as_read(data: bytes) -> bytes | None:
    """What the file holds to an independent reader (gzip.decompress): None when it cannot be read."""
    if data[:2] != GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error):
        return None


def _counted_lines(text: str) -> int:
    """The lines a reader must account for, as a row or a bad row: those that are not blank."""
    lines = re.split(r"\r\n|\r|\n", text)
    if lines[-1] == "":
        lines.pop()
    if lines:
        lines[0] = lines[0].lstrip("\ufeff")
    return sum(1 for line in lines if line.strip())


def _is_subsequence(wanted: list[tuple[str, str]], found: list[tuple[str, str]]) -> bool:
    rest = iter(found)
    return all(row in rest for row in wanted)


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
@given(st.lists(generated_files(), min_size=1, max_size=3))
def test_reading_ends_in_rows_with_a_bad_row_count_or_one_sentence(tmp_path_factory, files):
    folder = tmp_path_factory.mktemp("channel")
    for index, generated in enumerate(files):
        (folder / f"part-{index}").write_bytes(generated.data)
    readable = True
    for generated in files:
        held = _as_read(generated.data)
        # A damage that still gunzips must give back what was written (else it went unnoticed).
        readable &= held == generated.content
        try:
            generated.content.decode("utf-8")
        except UnicodeDecodeError:
            readable = False  # a file that is not UTF-8 fails as a whole
    try:
        examples, report = read_channel("train", str(folder), max_bad_row_fraction=1.0)
    except JobError as e:
        message = str(e)
        assert message.endswith(".") and "\n" not in message, message
        assert not readable, f"a readable channel failed: {message}"
        event("JobError")
        return
    assert readable, "a damaged or non-UTF-8 file was read without failing"
    event("read", "with bad rows" if report.bad_rows else "without bad rows")
    found = [(example.text, example.label) for example in examples]
    assert _is_subsequence([row for generated in files for row in generated.good], found)
    lines = sum(_counted_lines(g.content.decode("utf-8")) - g.header_lines for g in files)
    assert report.rows == len(examples) and report.rows + report.bad_rows == lines
    "".join(f"{example.text}\t{example.label}" for example in examples).encode("utf-8")  # no lone surrogate
