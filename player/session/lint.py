"""The eyes-closed lint: warnings about a script that reads without error but would leave a
listener with closed eyes unsure what to do (README, "Script format": warnings).

Pure: a function of the script alone. `practice check` prints each warning as
`FILE:LINE: warning: what is wrong, and the fix`; other code (the test of the built-in
sessions) takes them as data. Lengths are judged at normal pace with the script's breath,
and a cue's spoken length is estimated from its text, as `practice list` does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

from player.session.durations import Span
from player.session.script import (
    DURATION_PLACEHOLDER,
    OTHER_PLACEHOLDER,
    SIDE_PLACEHOLDER,
    BreathCue,
    Hold,
    Move,
    Pause,
    Rounds,
    Say,
    Script,
    Sides,
    Step,
)
from player.session.spoken_time import number_words
from player.session.timeline import count_prefix

# A clip's length before it is made: measured on the 789 cues of the built-in sessions with
# the default voice (espeak en-us+klatt at rate 140), 71 ms a character, 7% off per cue at
# the median; a rate speaks faster or slower in proportion.
MS_PER_CHARACTER_AT_140 = 71
LINT_RATE = 140  # the default voice's rate, at which the lint judges cue lengths
LONG_STAY_MS = 20_000  # a silent stay longer than this needs a cue to end it
STATED_TOLERANCE = 0.25  # a stated length may be this far from its step's


def estimated_clip_ms(text: str, rate: int) -> int:
    """How long `text` takes to say at `rate` (espeak's words a minute), before it is made."""
    return max(1, round(len(text) * MS_PER_CHARACTER_AT_140 * 140 / rate))


@dataclass(frozen=True)
class Warning:  # the lint's own warning (this module never uses Python's)
    """One warning: the script line it is about, and what is wrong with the fix."""

    line: int
    text: str
    rule: str = ""  # which rule found it: one of RULES


RULES = (
    "visual-words",
    "unclosed-stay",
    "last-one",
    "stated-length",
    "literal-time",
    "long-breath-cue",
    "optional-section",
)


def lint(script: Script) -> list[Warning]:
    """Every eyes-closed warning for a script that reads without error, in line order."""
    found: list[Warning] = []
    found += _visual_words(script)
    found += _unclosed_stays(script)
    found += _last_one_too_soon(script)
    found += _stated_lengths(script)
    found += _long_breath_cues(script)
    found += _optional_sections(script)
    return sorted(found, key=lambda warning: warning.line)


# -- walking the script ---------------------------------------------------------------------


def _all_steps(steps: tuple[Step, ...]) -> Iterator[Step]:
    """Every step at any depth: inside sides blocks and alternatives too."""
    for step in steps:
        yield step
        yield from _all_steps(step.instead)
        if isinstance(step, Sides):
            yield from _all_steps(step.steps)


def _step_lists(script: Script) -> Iterator[tuple[Step, ...]]:
    """Every list of steps that run one after another: sections, sides blocks, alternatives."""
    for section in script.sections:
        yield section.steps
        for step in _all_steps(section.steps):
            if step.instead:
                yield step.instead
            if isinstance(step, Sides):
                yield step.steps


def _spoken(script: Script) -> Iterator[tuple[str, int]]:
    """Every text written to be said, with the line it is written on."""
    for text in (script.title, *script.props, *script.cautions):
        yield text, script.line_of(text)
    for section in script.sections:
        yield section.title, section.line
        for step in _all_steps(section.steps):
            texts: list[str] = []
            match step:
                case Say(text=text, brief=brief):
                    texts = [text] if brief is None else [text, brief]
                case Hold(reminders=reminders) | Move(reminders=reminders):
                    texts = list(reminders)
                case Rounds(first=first, later=later):
                    texts = [first.inhale, first.exhale]
                    if later is not None:
                        texts += [later.inhale, later.exhale]
            for text in texts:
                yield text, script.line_of(text) or step.line


def _cycle_ms(script: Script) -> int:
    return script.breath.inhale_ms + script.breath.exhale_ms


def _span_ms(script: Script, span: Span) -> int:
    """A span's length at normal pace with the script's breath."""
    return span.breaths * _cycle_ms(script) if span.breaths else span.ms


def _seconds(ms: int) -> str:
    return f"{ms / 1000:.1f}".removesuffix(".0") + "s"


# -- 1. words that show instead of say ---------------------------------------------------------

VISUAL_PHRASES = (
    "like this",
    "like so",
    "as shown",
    "look at the screen",
    "on the screen",
    "as you can see",
    "watch me",
    "see the picture",
    "see the diagram",
    "see the video",
    "see the image",
)
# "if you would like this stretch" likes, and shows nothing
_VISUAL = re.compile(
    r"(?<!\bwould\s)(?<!\byou\s)(?<!\bthey\s)(?<!'d\s)\b("
    + "|".join(r"\s+".join(phrase.split()) for phrase in VISUAL_PHRASES)
    + r")\b",
    re.IGNORECASE,
)


def _visual_words(script: Script) -> list[Warning]:
    found = []
    for text, line in _spoken(script):
        match = _VISUAL.search(text)
        if match:
            found.append(
                Warning(
                    line,
                    f'"{" ".join(match[1].split())}" asks the listener to look, and with eyes '
                    "closed they cannot: describe the position in words (where the hands, "
                    "feet and head go)",
                    rule="visual-words",
                )
            )
    return found


# -- 2. a long silent stay that no cue ends ----------------------------------------------------

# what a listener hears next: a cue (a say, a bell, rounds, a side announced), another
# stay, or the end of the section (its next bell and title) or of the session
After = Literal["spoken", "stay", "section end", "session end"]


def _unclosed_stays(script: Script) -> list[Warning]:
    found: list[Warning] = []
    for index, section in enumerate(script.sections):
        last = index == len(script.sections) - 1
        _check_stays(script, section.steps, "session end" if last else "section end", found)
    return found


def _check_stays(
    script: Script, steps: tuple[Step, ...], after: After, found: list[Warning]
) -> None:
    """`after` is what follows the last of `steps`. A stay over 20 s that runs, through
    nothing but pauses, into another stay or the end of the session has nothing that tells
    the listener it is over (a section's end is closed by the next section's bell and title)."""
    for index, step in enumerate(steps):
        follows = _what_follows(steps, index, after)
        if isinstance(step, Sides):
            # after the first side comes "Now the ... side.", after the second what follows
            _check_stays(script, step.steps, follows, found)
            continue
        if step.instead:
            _check_stays(script, step.instead, follows, found)
        if not isinstance(step, Hold | Move) or _span_ms(script, step.span) <= LONG_STAY_MS:
            continue
        length = _seconds(_span_ms(script, step.span))
        if follows == "stay":
            found.append(
                Warning(
                    step.line,
                    f"this {length} stay runs straight into another silent stay, so nothing "
                    "tells the listener the first has ended: add a say between them that "
                    'brings them out of it ("Slowly release, and ..."), or a bell',
                    rule="unclosed-stay",
                )
            )
        elif follows == "session end":
            found.append(
                Warning(
                    step.line,
                    f"the session ends in this silent {length} stay, with only the end bell "
                    'after it: add a say that brings the listener out of it ("Slowly roll '
                    'onto your side, and come up to sitting.")',
                    rule="unclosed-stay",
                )
            )


def _what_follows(steps: tuple[Step, ...], index: int, after: After) -> After:
    """What is heard after steps[index], passing over pauses (a breath of silence before the
    next cue is fine): a say, a bell, rounds (whose first breath is a cue) and a sides block
    ("Starting with the right side.") are heard."""
    for step in steps[index + 1 :]:
        if isinstance(step, Hold | Move):
            return "stay"
        if not isinstance(step, Pause):
            return "spoken"
    return after


# -- 3. "last one" while more breaths follow ---------------------------------------------------

_LAST = re.compile(r"\b(last\s+one|last\s+time|final\s+breath|last\s+breath)\b", re.IGNORECASE)


def _last_one_too_soon(script: Script) -> list[Warning]:
    found = []
    for steps in _step_lists(script):
        for index, step in enumerate(steps):
            following = steps[index + 1] if index + 1 < len(steps) else None
            if isinstance(step, Rounds):
                found += _last_in_rounds(script, step)
            elif isinstance(step, Say) and isinstance(following, Rounds):
                breaths = following.count * (2 if following.alternate else 1)
                match = _LAST.search(step.text)
                if match and breaths > 1:
                    found.append(
                        Warning(
                            step.line,
                            f'"{match[1]}" is said before {breaths} breaths: say it only '
                            'before the last (the rounds already say "Last one." on their '
                            "last breath)",
                            rule="last-one",
                        )
                    )
    return found


def _last_in_rounds(script: Script, step: Rounds) -> list[Warning]:
    """A typed "last one" in a breath cue that is said while more breaths follow."""
    found = []
    # each cue with the first round it is said in: the full cue alone when there is no `then`
    cues: list[tuple[BreathCue, int]] = [(step.first, 1)]
    if step.later is not None:
        cues.append((step.later, 2))
    for cue, first_round in cues:
        if first_round > step.count or not (step.alternate or first_round < step.count):
            continue
        why = (
            "each round goes on to the other side"
            if step.alternate
            else f"it is said in round {first_round} of {step.count}"
        )
        for text in dict.fromkeys((cue.inhale, cue.exhale)):
            match = _LAST.search(text)
            if match:
                found.append(
                    Warning(
                        script.line_of(text) or step.line,
                        f'the breath cue says "{match[1]}" but more breaths follow ({why}): '
                        'take it out; the rounds say "Last one." on their last breath themselves',
                        rule="last-one",
                    )
                )
    return found


# -- 4. a stated length that disagrees with its step --------------------------------------------


def _number_words() -> dict[str, int]:
    """one to sixty in words, as spoken_time says them ("twenty-five") and as people write
    them ("twenty five")."""
    words = {}
    for value in range(1, 61):
        said = number_words(value)
        words[said] = words[said.replace("-", " ")] = value
    return words


NUMBER_WORDS = _number_words()
_NUMBER = r"\d{1,3}|" + "|".join(
    re.escape(word).replace(r"\ ", r"\s+") for word in sorted(NUMBER_WORDS, key=len, reverse=True)
)
_STATED = re.compile(
    r"\b(?:"
    r"(?P<minute_half>a\s+minute\s+and\s+a\s+half)"
    r"|(?P<half_minute>half\s+a\s+minute)"
    r"|(?P<a_minute>a\s+minute)"
    rf"|(?P<n>{_NUMBER})\s*(?P<unit>seconds?|secs?|s|minutes?|mins?|breaths?)"
    r")\b",
    re.IGNORECASE,
)


def stated_lengths(text: str, cycle_ms: int) -> list[tuple[str, int]]:
    """Each length a cue states ("for thirty seconds", "2 minutes", "five breaths"), as the
    words and the milliseconds they mean with a breath of `cycle_ms`."""
    lengths = []
    for match in _STATED.finditer(text):
        if match["minute_half"]:
            ms = 90_000
        elif match["half_minute"]:
            ms = 30_000
        elif match["a_minute"]:
            ms = 60_000
        else:
            written = " ".join(match["n"].lower().split())
            number = int(written) if written.isdigit() else NUMBER_WORDS[written]
            unit = match["unit"].lower()
            if unit.startswith("b"):
                ms = number * cycle_ms
            elif unit.startswith("m"):
                ms = number * 60_000
            else:
                ms = number * 1000
        lengths.append((" ".join(match[0].split()), ms))
    return lengths


def _stated_lengths(script: Script) -> list[Warning]:
    found = []
    cycle = _cycle_ms(script)
    for steps in _step_lists(script):
        for before, step in pairwise(steps):
            if not isinstance(before, Say) or not isinstance(step, Hold | Pause | Move):
                continue
            actual = _span_ms(script, step.span)
            said = [stated_lengths(text, cycle) for text in (before.text, before.brief) if text]
            wrong = [
                stated[0]
                for stated in said
                if stated and all(abs(actual - ms) > STATED_TOLERANCE * ms for _, ms in stated)
            ]
            clock_times = [words for stated in said for words, _ in stated if "breath" not in words]
            if wrong:
                words, ms = wrong[0]
                kind = type(step).__name__.lower()
                found.append(
                    Warning(
                        before.line,
                        f'the cue says "{words}" ({_seconds(ms)}) but the {kind} after it lasts '
                        f"{_seconds(actual)} at normal pace: make them agree",
                        rule="stated-length",
                    )
                )
            elif clock_times:
                found.append(_literal_time(before.line, clock_times[0]))
    return found


def _literal_time(line: int, words: str) -> Warning:
    """A time written out is true at one pace only; a count of breaths is true at every pace."""
    return Warning(
        line,
        f'the cue says "{words}", which is true only at normal pace: write '
        f"{DURATION_PLACEHOLDER} and the real length is said at every pace and --length",
        rule="literal-time",
    )


# -- 5. a breath cue longer than its breath ----------------------------------------------------


def _long_breath_cues(script: Script) -> list[Warning]:
    found = []
    phases = {"inhale": script.breath.inhale_ms, "exhale": script.breath.exhale_ms}
    for section in script.sections:
        for step in _all_steps(section.steps):
            said: list[tuple[str, str]] = []  # (phase, text as written)
            if isinstance(step, Rounds):
                for cue, rounds in _cues_and_rounds(step):
                    if not rounds:
                        continue
                    # the longest count the rounds add to this cue ("Two more. ", "Last one. ")
                    prefix = max((count_prefix(n, step.count) for n in rounds), key=len)
                    said += [("inhale", prefix + cue.inhale), ("exhale", cue.exhale)]
            elif isinstance(step, Hold) and step.span.breaths:
                said += [("inhale", reminder) for reminder in step.reminders]  # said on an inhale
            for phase, text in dict.fromkeys(said):
                ms = estimated_clip_ms(_as_said(text), LINT_RATE)
                if ms <= phases[phase]:
                    continue
                added = len(text) - len(_unprefixed(text))  # the count is not the author's
                budget = phases[phase] // MS_PER_CHARACTER_AT_140 - added
                if isinstance(step, Hold):
                    what, effect = "reminder", "it runs on into the exhale"
                else:
                    what, effect = f"{phase} cue", "that breath is stretched to fit it"
                found.append(
                    Warning(
                        script.line_of(_unprefixed(text)) or step.line,
                        f"this {what} takes about {ms / 1000:.1f}s to say{_with_count(text)}, "
                        "longer than the "
                        f"{_seconds(phases[phase])} {phase}, so {effect}: shorten it to about "
                        f"{budget} characters, or lengthen the {phase}",
                        rule="long-breath-cue",
                    )
                )
    return found


def _cues_and_rounds(step: Rounds) -> list[tuple[BreathCue, range]]:
    """Each breath cue of `step` with the round numbers it is said in."""
    if step.later is None:
        return [(step.first, range(1, step.count + 1))]
    return [(step.first, range(1, 2)), (step.later, range(2, step.count + 1))]


def _as_said(text: str) -> str:
    """A cue as it is said on one side (the longer side word, so the estimate is never short)."""
    return text.replace(SIDE_PLACEHOLDER, "right").replace(OTHER_PLACEHOLDER, "right")


def _with_count(text: str) -> str:
    counted = text[: len(text) - len(_unprefixed(text))].strip()
    return f' with the "{counted}" the rounds add' if counted else ""


def _unprefixed(text: str) -> str:
    for prefix in (count_prefix(2, 3), count_prefix(2, 2)):
        text = text.removeprefix(prefix)
    return text


# -- 6. a section that a fit may empty ---------------------------------------------------------


def _optional_sections(script: Script) -> list[Warning]:
    found = []
    for index, section in enumerate(script.sections):
        if not all(step.optional for step in section.steps):
            continue
        left = "nothing of it, chapter and all" if index else "only its title"
        found.append(
            Warning(
                section.line,
                f"every step of this section is optional, so `--length` can leave {left}: "
                "take `optional` off its main step",
                rule="optional-section",
            )
        )
    return found
