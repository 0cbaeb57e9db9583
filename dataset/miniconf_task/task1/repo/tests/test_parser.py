import pytest

from miniconf import ParseError, load, loads

SAMPLE = """\
# global settings
name = demo

[server]
host = example.org
port: 8080

; another comment
[client]
retries = 3
"""


def test_sections_in_order():
    assert loads(SAMPLE).sections() == ["server", "client"]


def test_values_are_stripped_strings():
    config = loads(SAMPLE)
    assert config["server"]["host"] == "example.org"
    assert config["server"]["port"] == "8080"


def test_keys_before_any_section_are_defaults():
    config = loads(SAMPLE)
    assert config.defaults["name"] == "demo"
    assert config["client"]["name"] == "demo"


def test_first_delimiter_wins():
    config = loads("[s]\nurl = http://x:80/a=b\n")
    assert config["s"]["url"] == "http://x:80/a=b"


def test_blank_and_comment_lines_are_skipped():
    config = loads("\n\n# c\n; c\n[s]\n\na = 1\n")
    assert dict(config["s"].items()) == {"a": "1"}


def test_repeated_section_is_merged():
    config = loads("[s]\na = 1\n[t]\n[s]\nb = 2\n")
    assert dict(config["s"].items()) == {"a": "1", "b": "2"}


def test_empty_value_is_allowed():
    assert loads("[s]\nempty =\n")["s"]["empty"] == ""


@pytest.mark.parametrize(
    "text, message",
    [
        ("[s]\njust words\n", "expected 'key = value'"),
        ("[s]\n= value\n", "missing key"),
        ("[ ]\n", "empty section name"),
    ],
)
def test_errors_name_the_line(text, message):
    with pytest.raises(ParseError) as info:
        loads(text)
    assert message in str(info.value)
    assert info.value.lineno == text.count("\n")


def test_load_reads_a_file(tmp_path):
    path = tmp_path / "app.ini"
    path.write_text(SAMPLE, encoding="utf-8")
    assert load(path)["client"]["retries"] == "3"
