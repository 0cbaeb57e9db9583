import pytest

from durations import DurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    "text, seconds",
    [("1h", 3600), ("30m", 1800), ("45s", 45), ("1h30m", 5400), ("2h 15m 30s", 8130), ("90M", 5400)],
)
def test_parse(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "1x", "1h1h", "h", "1h-"])
def test_parse_errors(text):
    with pytest.raises(DurationError):
        parse_duration(text)


@pytest.mark.parametrize("seconds, text", [(0, "0s"), (45, "45s"), (5400, "1h30m"), (8130, "2h15m30s")])
def test_format(seconds, text):
    assert format_duration(seconds) == text


def test_round_trip():
    for seconds in (1, 59, 61, 3599, 3601, 86399):
        assert parse_duration(format_duration(seconds)) == seconds


def test_negative_cannot_be_formatted():
    with pytest.raises(DurationError):
        format_duration(-1)
