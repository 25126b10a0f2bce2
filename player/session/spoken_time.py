"""A length of time said the way a teacher says it: "about forty seconds", "a minute and a half".

Words, never digits, so every voice reads them the same. Under ten seconds the nearest second,
under a minute the nearest five seconds, from a minute on the nearest half minute; "about"
when the rounding moved the time by half a second or more.
"""

from __future__ import annotations

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
EXACT_WITHIN_MS = 500  # closer than this to the rounded time, no "about"


def number_words(number: int) -> str:
    """0 to 999,999 in words: 45 is "forty-five", 120 is "one hundred and twenty"."""
    if not 0 <= number <= 999_999:
        raise ValueError(f"{number} is out of range: 0 to 999,999")
    if number < 20:
        return _ONES[number]
    if number < 100:
        tens, ones = divmod(number, 10)
        return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")
    if number < 1_000:
        hundreds, rest = divmod(number, 100)
        return f"{_ONES[hundreds]} hundred" + (f" and {number_words(rest)}" if rest else "")
    thousands, rest = divmod(number, 1_000)
    joint = " and " if rest < 100 else " "
    return f"{number_words(thousands)} thousand" + (joint + number_words(rest) if rest else "")


def rounded_ms(ms: int) -> int:
    """The time that is said: the nearest second under 10 s, the nearest 5 s under a minute,
    else the nearest half minute (never zero)."""
    step = 1_000 if ms < 9_500 else 5_000 if ms < 57_500 else 30_000
    return max(1_000, (ms + step // 2) // step * step)


def spoken_duration(ms: int) -> str:
    """`ms` in plain words: 30_000 is "thirty seconds", 42_000 "about forty seconds",
    90_000 "a minute and a half", 150_000 "two and a half minutes"."""
    said = rounded_ms(ms)
    words = _words_for(said)
    return words if abs(said - ms) < EXACT_WITHIN_MS else f"about {words}"


def _words_for(ms: int) -> str:
    if ms < 60_000:
        seconds = ms // 1_000
        return "one second" if seconds == 1 else f"{number_words(seconds)} seconds"
    minutes, half = divmod(ms // 30_000, 2)
    if minutes == 1:
        return "a minute and a half" if half else "a minute"
    whole = number_words(minutes)
    return f"{whole} and a half minutes" if half else f"{whole} minutes"
