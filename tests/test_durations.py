import pytest

from player.session.durations import DurationError, Span, parse_count, parse_duration


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("30s", Span(ms=30_000)),
        ("2m", Span(ms=120_000)),
        ("1m30s", Span(ms=90_000)),
        ("5 breaths", Span(breaths=5)),
        ("1 breath", Span(breaths=1)),
        (" 45s ", Span(ms=45_000)),
    ],
)
def test_the_documented_forms_parse(text, span):
    assert parse_duration(text) == span


@pytest.mark.parametrize(
    ("text", "advice"),
    [
        ("1:30", "write 1m30s"),
        ("017", "octal"),
        ("90", "give it a unit"),
        ("yes", "not a duration"),
        (".inf", "not a duration"),
        (".nan", "not a duration"),
        ("-5s", "negative"),
        ("0s", "zero"),
        ("0m0s", "zero"),
        ("999m", "4-hour cap"),
        ("1.5m", "not a duration"),
        ("", "not a duration"),
        ("30 s", "not a duration"),
        ("0 breaths", "not a duration"),
        ("9999 breaths", "more than 500 breaths"),
    ],
)
def test_yaml_look_alikes_and_nonsense_are_refused_with_advice(text, advice):
    with pytest.raises(DurationError, match=advice):
        parse_duration(text)


def test_breaths_can_be_refused_where_only_a_time_makes_sense():
    with pytest.raises(DurationError, match="only a time works"):
        parse_duration("3 breaths", allow_breaths=False)


@pytest.mark.parametrize("text", ["017", "3.0", "0", "-2", "five", "1e3"])
def test_counts_are_plain_whole_numbers(text):
    with pytest.raises(DurationError):
        parse_count(text, "number of rounds")
    assert parse_count("12", "number of rounds") == 12
