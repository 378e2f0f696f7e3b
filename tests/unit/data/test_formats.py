import json

import pytest

from headlines.data.formats import Example, ReadReport, detect_format, label_names, read_channel, read_file
from headlines.errors import JobError
from tests.support.data import data_sets, write_lines

UCI_ROW = "1\tFed raises rates\thttp://x\tReuters\tb\tstory1\tx.com\t1394470370698"


def read(path):
    report = ReadReport("test")
    return list(read_file(str(path), report)), report


def test_uci_layout_keeps_story_as_group(tmp_path):
    examples, report = read(write_lines(tmp_path / "news.tsv", [UCI_ROW, UCI_ROW.replace("story1", "story2")]))
    assert examples[0] == Example("Fed raises rates", "b", "story1")
    assert report.formats == {"uci": 1} and report.rows == 2


def test_uci_titles_with_quotes_are_not_unquoted(tmp_path):
    row = UCI_ROW.replace("Fed raises rates", '"Frozen" tops box office, says "Variety"')
    examples, _ = read(write_lines(tmp_path / "news.tsv", [row]))
    assert examples[0].text == '"Frozen" tops box office, says "Variety"'


@pytest.mark.parametrize("data", data_sets(), ids=lambda data: data.source)
def test_uci_split_reads_every_row(data):
    report = ReadReport("train")
    examples = list(read_file(str(data.test), report))
    assert len(examples) == len(data.test_rows()) and report.bad_rows == 0
    assert {e.label for e in examples} == {"b", "e", "m", "t"}


def test_text_tab_label_with_optional_header(tmp_path):
    examples, _ = read(write_lines(tmp_path / "a.txt", ["text\tlabel", "Stocks fall\tbusiness", "New phone\ttech"]))
    assert [(e.text, e.label, e.group) for e in examples] == [
        ("Stocks fall", "business", None),
        ("New phone", "tech", None),
    ]


def test_csv_with_header_and_rfc4180_quoting(tmp_path):
    path = write_lines(
        tmp_path / "a.csv", ["id,headline,category,story", '1,"Apple, Inc. ""beats"" views",t,s1', "2,Plain one,b,s2"]
    )
    examples, report = read(path)
    assert examples[0] == Example('Apple, Inc. "beats" views', "t", "s1")
    assert report.formats == {"csv": 1}


def test_csv_header_after_blank_lines_is_the_header(tmp_path):
    """Blank lines before the header are skipped, as the format check skips them (they were read as the header)."""
    examples, report = read(write_lines(tmp_path / "a.csv", ["", "", "headline,category", "Plain one,b"]))
    assert examples == [Example("Plain one", "b", None)] and report.bad_rows == 0


@pytest.mark.parametrize(
    "lines",
    [
        ["text\tlabel", "Plain one\tb"],
        ["headline,category", "Plain one,b"],
        ['{"headline": "Plain one", "label": "b"}'],
        ["__label__b Plain one"],
        [UCI_ROW.replace("Fed raises rates", "Plain one").replace("story1", "")],
    ],
    ids=["tsv", "csv", "jsonl", "fasttext", "uci"],
)
def test_every_format_reads_the_same_after_a_byte_order_mark_and_blank_lines(tmp_path, lines):
    """The first line that is not blank is the header (or first row), even after a BOM on a line of its own."""
    examples, report = read(write_lines(tmp_path / "a.txt", ["\ufeff", " ", *lines]))
    assert examples == [Example("Plain one", "b", None)] and report.bad_rows == 0


def test_jsonl_with_either_key_spelling(tmp_path):
    lines = [json.dumps({"title": "One", "category": "b"}), json.dumps({"text": "Two", "label": "e", "story": "s"})]
    examples, _ = read(write_lines(tmp_path / "a.jsonl", lines))
    assert examples == [Example("One", "b"), Example("Two", "e", "s")]


def test_fasttext_lines(tmp_path):
    examples, _ = read(
        write_lines(tmp_path / "a.txt", ["__label__b Stocks fall sharply", "__label__e __label__x Oscar night"])
    )
    assert examples == [Example("Stocks fall sharply", "b"), Example("Oscar night", "e")]


def test_gzip_is_detected_by_content_not_name(tmp_path):
    path = write_lines(tmp_path / "data.gz", [UCI_ROW], compress=True)
    renamed = path.rename(tmp_path / "data.tsv")
    assert read(renamed)[0][0].label == "b"


@pytest.mark.parametrize(
    "damage",
    [lambda data: data[:-20], lambda data: data[:10] + b"\xff" + data[11:]],
    ids=["truncated", "deflate block of the reserved type"],
)
def test_damaged_gzip_fails_in_one_sentence_naming_the_file(tmp_path, damage):
    path = write_lines(tmp_path / "a.tsv.gz", [UCI_ROW.replace("story1", f"story{i}") for i in range(500)], True)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(JobError, match=r"^Cannot read .*a\.tsv\.gz: it is a damaged or truncated gzip file \(.*\)\.$"):
        read(path)


def test_malformed_rows_are_counted_with_examples(tmp_path):
    lines = [UCI_ROW, "1\tonly\tthree", UCI_ROW.replace("\tb\t", "\t\t"), UCI_ROW]
    examples, report = read(write_lines(tmp_path / "news.tsv", lines))
    assert len(examples) == 2 and report.bad_rows == 2 and report.rows == 2
    assert "news.tsv:2: expected 8 tab-separated columns, found 3" in report.bad_examples[0]
    assert "empty label" in report.bad_examples[1]


def test_bad_json_line_is_counted(tmp_path):
    examples, report = read(
        write_lines(tmp_path / "a.jsonl", ['{"text": "ok", "label": "b"}', "{broken", "[1]", '{"text": "no label"}'])
    )
    assert len(examples) == 1 and report.bad_rows == 3


def test_deeply_nested_json_line_is_counted(tmp_path):
    good = '{"text": "ok", "label": "b"}'
    examples, report = read(write_lines(tmp_path / "a.jsonl", [good, '{"text": ' + "[" * 100_000, good]))
    assert len(examples) == 2 and report.bad_rows == 1
    assert report.bad_examples[0].endswith("a.jsonl:2: JSON nested too deeply")


def test_lone_surrogate_in_a_label_or_text_is_counted(tmp_path):
    """json.loads turns a \\ud800 escape into a str that UTF-8 cannot encode: the model files could not be written."""
    lines = [r'{"headline": "x", "label": "\ud800"}', r'{"headline": "a \udfff b", "label": "b"}']
    examples, report = read(write_lines(tmp_path / "a.jsonl", ['{"text": "ok", "label": "b"}', *lines]))
    assert examples == [Example("ok", "b")] and report.bad_rows == 2
    reason = "a lone surrogate that UTF-8 cannot encode"
    assert report.bad_examples[0].endswith(f"a.jsonl:2: the label holds '\\ud800', {reason}")
    assert report.bad_examples[1].endswith(f"a.jsonl:3: the text holds '\\udfff', {reason}")


def test_channel_fails_when_too_many_rows_are_bad(tmp_path):
    write_lines(tmp_path / "ch" / "a.tsv", [UCI_ROW] * 98 + ["broken\trow"] * 2)
    with pytest.raises(JobError) as error:
        read_channel("train", str(tmp_path / "ch"), max_bad_row_fraction=0.01)
    assert "2 malformed rows out of 100" in str(error.value) and "max_bad_row_fraction" in str(error.value)
    examples, report = read_channel("train", str(tmp_path / "ch"), max_bad_row_fraction=0.05)
    assert len(examples) == 98 and report.bad_rows == 2


def test_channel_reads_many_files_of_mixed_formats_and_skips_hidden_ones(tmp_path):
    write_lines(tmp_path / "ch" / "part-1.tsv", [UCI_ROW])
    write_lines(tmp_path / "ch" / "sub" / "part-2.jsonl.gz", ['{"headline": "x", "label": "m"}'], compress=True)
    write_lines(tmp_path / "ch" / ".DS_Store", ["garbage"])
    examples, report = read_channel("train", str(tmp_path / "ch"), 0.0)
    assert [e.label for e in examples] == ["b", "m"]
    assert report.formats == {"uci": 1, "jsonl": 1}


def test_empty_channel_and_unknown_format_fail_clearly(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(JobError, match="no files"):
        read_channel("train", str(tmp_path / "empty"), 0.01)
    with pytest.raises(JobError, match="Cannot tell the format"):
        detect_format("just some words", "x.txt")


def test_non_utf8_file_fails_naming_it(tmp_path):
    path = tmp_path / "latin1.tsv"
    path.write_bytes("Caf\xe9\tb\n".encode("latin-1"))
    with pytest.raises(JobError, match="latin1.tsv is not UTF-8"):
        read(path)


def test_label_names():
    assert label_names(["b", "t"]) == {"b": "business", "t": "science and technology"}
    assert label_names(["sports"]) == {"sports": "sports"}


def test_csv_unmatched_quote_is_one_bad_row_and_the_rows_after_it_are_read(tmp_path):
    """A quote left open does not swallow the rest of the file (to EOF, or to the next quote) into one field."""
    good = [f"Headline {i},b" for i in range(100)]
    after = [f"Later headline {i},e" for i in range(10_000)] + ['"Apple, Inc. ""beats"" views",t']
    examples, report = read(write_lines(tmp_path / "a.csv", ["headline,category", *good, '"broken,b', *after]))
    assert len(examples) == report.rows == 10_101 and report.bad_rows == 1
    assert examples[-1] == Example('Apple, Inc. "beats" views', "t")
    assert report.bad_examples[0].endswith("a.csv:102: unmatched quote: a quoted field must end on its line")
