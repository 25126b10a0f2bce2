"""Compile a script into the timeline: typed events with exact integer-millisecond times.

This is a pure function of (script, options, spoken clip lengths). Render, playback,
preview, chapters and tests all read the timeline it returns; nothing here touches audio.

The voice track is one line of events with no gaps and no overlaps: every millisecond
from 0 to `duration_ms` belongs to exactly one event, so two voices never sound at once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from player.errors import ScriptProblems
from player.session.bed import BedSpec
from player.session.script import (
    DURATION_PLACEHOLDER,
    MAX_UNANNOUNCED_MS,
    OTHER_PLACEHOLDER,
    SIDE_PLACEHOLDER,
    Bell,
    BellSound,
    BreathCue,
    Hold,
    Move,
    Pause,
    Rounds,
    Say,
    Script,
    Side,
    Sides,
    Stay,
    Step,
    Tag,
    first_stay,
    says_duration,
    says_how_long,
    steps_after,
)
from player.session.spoken_time import spoken_duration

Kind = Literal["speech", "bell", "silence", "tone"]
Phase = Literal["inhale", "exhale"]
CueAmount = Literal["full", "brief", "minimal"]
BellVolume = Literal["off", "soft", "normal"]
CUE_AMOUNTS: tuple[CueAmount, ...] = ("full", "brief", "minimal")
BELL_VOLUMES: tuple[BellVolume, ...] = ("off", "soft", "normal")

PACE_NAMES = {"slow": 0.8, "normal": 1.0, "fast": 1.25}
MIN_PACE, MAX_PACE = 0.5, 2.0
CUE_GAP_MS = 900  # silence after a spoken cue, at normal pace
PHASE_GAP_MS = 400  # breathing room after a cue that had to lengthen its breath phase
SECTION_TITLE_GAP_MS = 1_200
REST_BETWEEN_SIDES = "Rest for a moment before the other side."
MIN_TONE_MS = 500  # a breath tone needs room to rise or fall; shorter silences stay silent
OPEN_LENGTH = "as long as you like"  # {duration} of an open rest, where play waits for a key
OPEN_REST_KEY = "When you are ready to go on, press any key."
# What a left-out step is called in its spoken note, by its first avoided tag.
AVOIDED_NAMES: dict[str, str] = {
    "belly-down": "a pose on the belly",
    "twist": "a twist",
    "kneeling": "a kneeling pose",
    "backbend": "a backbend",
    "inversion": "an inversion",
    "standing": "a standing pose",
    "wrists": "a pose with weight on the hands",
}
BELL_MS: dict[BellSound, int] = {"start": 5_000, "section": 4_000, "end": 8_000}
BELL_MERGE_MS = 10_000  # two bells starting closer than this ring as one
ESTIMATED_MS_PER_CHAR = 71  # speech at rate 140, for a text with no clip length at hand
NUMBER_WORDS = (
    *("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
    *("eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen"),
    *("eighteen", "nineteen", "twenty"),
)
MAX_SESSION_MS = 4 * 60 * 60 * 1000


@dataclass(frozen=True)
class TimingOptions:
    """What the listener chose: pace is a speed (2.0 halves every silence, never the voice)."""

    pace: float = 1.0
    inhale_ms: int | None = None  # overrides the script's breath when set
    exhale_ms: int | None = None
    cues: CueAmount = "full"  # how much is said: every cue, short forms, or names only
    avoid: frozenset[Tag] = frozenset()  # steps with these tags give way to their alternative
    leave_out: frozenset[int] = frozenset()  # script lines of optional steps left out
    breath_tones: bool = False  # a rising tone on each silent inhale, a falling one on exhales
    bells: BellVolume = "normal"
    # live play at a terminal: an open hold lasts until a key, and its words say so
    open_rests: bool = False

    def __post_init__(self) -> None:
        checked_pace(self.pace)


@dataclass(frozen=True)
class Event:
    """One stretch of the voice track; `text` is the words of speech or the name of a bell."""

    start_ms: int
    end_ms: int
    kind: Kind
    section: str
    text: str = ""
    side: Side | None = None
    phase: Phase | None = None
    step: int = 0  # which step instance (0 is the opening); play skips by it
    line: int = 0  # the script line the event comes from, 0 when generated
    open: bool = False  # the end of an open rest: live play at a terminal waits for a key here

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(frozen=True)
class Chapter:
    start_ms: int
    end_ms: int
    title: str


@dataclass(frozen=True)
class Timeline:
    title: str
    duration_ms: int
    chapters: tuple[Chapter, ...]
    events: tuple[Event, ...]
    bells: BellVolume = "normal"  # how loud the mixer strikes the bell events
    # The options that built it (pace, breath, steps left out by a fit, ...): whoever holds a
    # timeline knows its pace without keeping it beside. Not part of `show --json`.
    options: TimingOptions = field(default_factory=TimingOptions)
    # The sound bed mixed under the voice (--bed), set by whoever asked for one; none: silence.
    bed: BedSpec | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """The public `practice show --json` shape (documented in the README); the options
        are not in it. `bed` is there only when a bed plays."""
        shape = {
            "title": self.title,
            "duration_ms": self.duration_ms,
            "bells": self.bells,
            "chapters": [asdict(chapter) for chapter in self.chapters],
            "events": [asdict(event) for event in self.events],
        }
        if self.bed is not None:
            shape["bed"] = self.bed.to_json_dict()
        return shape


ClipLengths = Mapping[str, int] | Callable[[str], int]


def parse_pace(value: str) -> float:
    """Read `slow`, `normal`, `fast` or a factor such as 0.9; raise ValueError with the rule."""
    named = PACE_NAMES.get(value.strip().lower())
    if named is not None:
        return named
    try:
        pace = float(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a pace: use slow, normal, fast or a number "
            f"from {MIN_PACE} to {MAX_PACE}"
        ) from None
    return checked_pace(pace, value)


def checked_pace(pace: float, written: str | None = None) -> float:
    """`pace` if it lies from MIN_PACE to MAX_PACE (the one place that range is checked);
    ValueError saying the rule otherwise, quoting the pace as `written` when given."""
    if not MIN_PACE <= pace <= MAX_PACE:
        shown = pace if written is None else written
        raise ValueError(
            f"pace {shown} is out of range: use a number from {MIN_PACE} to {MAX_PACE}"
        )
    return pace


def spoken_texts(script: Script, options: TimingOptions) -> dict[str, str]:
    """Every distinct text the timeline will speak, in first-spoken order, with its FILE:LINE."""
    lengths: dict[str, int] = {}

    def record(text: str) -> int:
        lengths.setdefault(text, 1_000)
        return 1_000

    timeline = build_timeline(script, options, record)
    origins: dict[str, str] = {}
    for event in timeline.events:
        if event.kind == "speech" and event.text not in origins:
            line = _written_line(script, event.text) or event.line
            origins[event.text] = f"{script.path}:{line}" if line else script.path
    return origins


def _written_line(script: Script, text: str) -> int:
    """Where a spoken text stands in the script: its own line for a reminder, a caution or a
    title (an event's line is its step's), and the title's or first prop's line for the
    sentences made of them."""
    if text == f"{script.title}.":
        text = script.title
    elif script.props and text == props_sentence(script.props):
        text = script.props[0]
    return script.line_of(text)


def build_timeline(script: Script, options: TimingOptions, clip_ms: ClipLengths) -> Timeline:
    """Compile `script` at `options`, given the spoken length of each text in milliseconds."""
    lookup = clip_ms if callable(clip_ms) else clip_ms.__getitem__
    builder = _Builder(script, options, lookup)
    builder.run()
    if options.pace != MAX_PACE and _has_bell_step(script):
        # Which bells ring as one is decided at the fastest pace, where they stand closest:
        # the same at every pace, and never two within BELL_MERGE_MS at any. That trial asks
        # `clip_ms` nothing: it takes the lengths just spoken, and estimates any text that
        # only the fastest pace says (a {duration}).
        known = {e.text: e.duration_ms for e in builder.events if e.kind == "speech"}
        fastest = _Builder(
            script,
            replace(options, pace=MAX_PACE),
            lambda text: known.get(text) or _estimated_ms(text),
        )
        fastest.run()
        if fastest.merged_bells != builder.merged_bells:
            merges = frozenset(fastest.merged_bells)
            builder = _Builder(script, options, lookup, bell_merges=merges)
            builder.run()
    if builder.t > MAX_SESSION_MS:
        hours = builder.t / 3_600_000
        raise ScriptProblems(
            [
                f"{script.path}: the session would last {hours:.1f} hours at this "
                "pace, over the 4-hour cap: shorten it or raise the pace"
            ]
        )
    return Timeline(
        title=script.title,
        duration_ms=builder.t,
        chapters=tuple(builder.chapters),
        events=tuple(builder.events),
        bells=options.bells,
        options=options,
    )


def clock(ms: int) -> str:
    """M:SS, as every message shows a length."""
    seconds = max(0, ms) // 1000
    return f"{seconds // 60}:{seconds % 60:02d}"


def count_prefix(round_number: int, rounds: int) -> str:
    """The generated count spoken with a round's inhale cue: "Two more." and "Last one."."""
    if rounds >= 2 and round_number == rounds:
        return "Last one. "
    if rounds >= 3 and round_number == rounds - 1:
        return "Two more. "
    return ""


def props_sentence(props: tuple[str, ...]) -> str:
    if len(props) == 1:
        return f"For this practice you will need {props[0]}."
    return f"For this practice you will need {', '.join(props[:-1])} and {props[-1]}."


def side_announcement(side: Side, first: bool) -> str:
    return f"Starting with the {side} side." if first else f"Now the {side} side."


@dataclass
class _Labels:
    section: str = ""
    side: Side | None = None
    step: int = 0
    line: int = 0


@dataclass
class _Builder:
    script: Script
    options: TimingOptions
    clip_ms: Callable[[str], int]
    t: int = 0
    events: list[Event] = field(default_factory=list)
    chapters: list[Chapter] = field(default_factory=list)
    labels: _Labels = field(default_factory=_Labels)
    skip_note: str | None = None  # the note just spoken for left-out steps, until a step runs
    # what follows each {duration} say as it plays (by id: one object serves both sides)
    after_say: dict[int, tuple[Step, ...]] | None = None
    last_speech: Event | None = None
    bell_next: bool = False  # a bell rings right after the step being built
    # bells struck so far: (start, for an explicit bell its (index in `events`, ordinal))
    strikes: list[tuple[int, tuple[int, int] | None]] = field(default_factory=list)
    # explicit bells (by ordinal) that ring with a neighbour, as found at the fastest pace;
    # None: find them by time (a build at the fastest pace)
    bell_merges: frozenset[int] | None = None
    merged_bells: set[int] = field(default_factory=set)
    explicit_bells: int = 0

    # -- scaling ----------------------------------------------------------------------

    def scaled(self, ms: int) -> int:
        """Silence at the chosen pace; the voice itself is never scaled."""
        return round(ms / self.options.pace)

    @property
    def inhale_ms(self) -> int:
        return self.scaled(self.options.inhale_ms or self.script.breath.inhale_ms)

    @property
    def exhale_ms(self) -> int:
        return self.scaled(self.options.exhale_ms or self.script.breath.exhale_ms)

    # -- emitting events ----------------------------------------------------------------

    def emit(self, kind: Kind, length_ms: int, text: str = "", phase: Phase | None = None) -> None:
        if length_ms <= 0:
            return
        labels = self.labels
        self.events.append(
            Event(
                self.t,
                self.t + length_ms,
                kind,
                labels.section,
                text,
                labels.side,
                phase,
                labels.step,
                labels.line,
            )
        )
        self.t += length_ms

    def speak(self, text: str, phase: Phase | None = None) -> None:
        self.emit("speech", max(1, int(self.clip_ms(text))), text, phase)
        self.last_speech = self.events[-1]

    def silence_until(self, end_ms: int, phase: Phase | None = None) -> None:
        self.emit("silence", end_ms - self.t, phase=phase)

    def say(self, text: str) -> None:
        self.speak(text)
        self.emit("silence", self.scaled(CUE_GAP_MS))

    def bell(self, sound: BellSound, automatic: bool = False) -> None:
        """Never two bells within BELL_MERGE_MS: an explicit bell just after another, or just
        before an automatic one, is not struck. Its time stays, silent, as with bells off: the
        rhythm, and the likeness of a pose's two sides, do not change."""
        recent = bool(self.strikes) and self.t - self.strikes[-1][0] < BELL_MERGE_MS
        explicit = None
        if not automatic:
            ordinal = self.explicit_bells
            self.explicit_bells += 1
            merge = recent if self.bell_merges is None else ordinal in self.bell_merges
            if merge:
                self.merged_bells.add(ordinal)
                self.emit("silence", BELL_MS[sound])
                return
            explicit = (len(self.events), ordinal)
        before = self.strikes[-1][1] if self.strikes else None
        if automatic and recent and before is not None and self.bell_merges is None:
            index, ordinal = before  # the automatic bell rings for both
            self.events[index] = replace(self.events[index], kind="silence", text="")
            self.merged_bells.add(ordinal)
        self.strikes.append((self.t, explicit))
        if self.options.bells == "off":
            self.emit("silence", BELL_MS[sound])  # the bell's time stays: the rhythm is kept
        else:
            self.emit("bell", BELL_MS[sound], sound)

    @property
    def minimal(self) -> bool:
        return self.options.cues == "minimal"

    def next_step(self, line: int) -> None:
        self.labels.step += 1
        self.labels.line = line

    # -- the session ----------------------------------------------------------------------

    def run(self) -> None:
        sections = [
            section
            for index, section in enumerate(self.script.sections)
            if index == 0 or not self.all_left_out(section.steps)
        ]
        for index, section in enumerate(sections):
            start = 0 if index == 0 else self.t
            self.skip_note = None  # a new section says again what it leaves out
            self.labels.section = section.title
            self.next_step(section.line)
            if index == 0:
                self.opening()
            else:
                self.bell("section", automatic=True)
            self.speak(section.title)
            self.emit("silence", self.scaled(SECTION_TITLE_GAP_MS))
            last = index == len(sections) - 1
            self.steps(section.steps, None, bell_after=True)
            if last:
                self.next_step(0)
                self.bell("end", automatic=True)
            self.chapters.append(Chapter(start, self.t, section.title))

    def all_left_out(self, steps: tuple[Step, ...]) -> bool:
        """A section whose every step is left out to fit a length: no bell, no title."""
        return all(step.optional and step.line in self.options.leave_out for step in steps)

    def opening(self) -> None:
        self.bell("start", automatic=True)
        self.say(f"{self.script.title}.")
        if self.script.props and not self.minimal:  # the listener knows the props
            self.say(props_sentence(self.script.props))
        for caution in self.script.cautions:  # safety is not instruction: always said
            self.say(caution)

    def steps(self, steps: tuple[Step, ...], side: Side | None, *, bell_after: bool) -> None:
        """A list of steps; `bell_after`: a bell rings as they end (a section's end). A run of
        neighbouring avoided steps gives way as one (`avoided_run`)."""
        live = [step for step in steps if not self.left_out(step)]
        index = 0
        while index < len(live):
            end = index
            while end < len(live) and self.avoided(live[end]):
                end += 1
            if end > index:
                self.avoided_run(tuple(live[index:end]), side, bell_after and end == len(live))
                index = end
                continue
            following = live[index + 1] if index + 1 < len(live) else None
            self.bell_next = isinstance(following, Bell) or (following is None and bell_after)
            self.step(live[index], side)
            index += 1

    def left_out(self, step: Step) -> bool:
        return step.optional and step.line in self.options.leave_out

    def avoided(self, step: Step) -> list[Tag]:
        return [tag for tag in step.tags if tag in self.options.avoid]

    def avoided_run(self, run: tuple[Step, ...], side: Side | None, bell_after: bool) -> None:
        """Avoided steps: with an alternative among them, only the alternatives are said (no
        note contradicts them), and an alternative with no timed step of its own keeps the
        avoided steps' time with an announced rest; with none, one short note."""
        alternatives = tuple(alternative for step in run for alternative in step.instead)
        covered = {tag for step in run if step.instead for tag in self.avoided(step)}
        replaced = tuple(step for step in run if step.instead or self.avoided(step)[0] in covered)
        for step in run:  # a pose no alternative covers still gets its note
            if step not in replaced:
                self.note_left_out(self.avoided(step)[0])
        if not alternatives:
            return
        start = self.t
        self.steps(alternatives, side, bell_after=bell_after)
        if _has_timed_step(alternatives):
            return
        cycle_ms = self.inhale_ms + self.exhale_ms
        breaths = round((start + self.length_of(replaced, side) - self.t) / cycle_ms)
        if breaths >= 1:
            self.next_step(0)  # generated: no event may point at an avoided step
            self.say(f"Rest here for {_count(breaths, 'breath')}.")
            self.pause(0, breaths)

    def length_of(self, steps: tuple[Step, ...], side: Side | None) -> int:
        """About how long `steps` would last here were nothing avoided: their words are never
        spoken, so never asked of `clip_ms`, but estimated."""
        options = replace(self.options, avoid=frozenset())
        trial = _Builder(self.script, options, _estimated_ms, labels=_Labels(side=side))
        trial.steps(steps, side, bell_after=False)
        return trial.t

    def announce_stay(self, step: Stay) -> None:
        """At minimal, a stay over 20 s with no cue just before it that tells how long (the
        short form may not) gets one: the listener is never left wondering in silence."""
        if not self.minimal:
            return
        last = self.last_speech
        quiet_since = last.end_ms if last is not None else 0
        if self.t - quiet_since + self.stay_ms(step) <= MAX_UNANNOUNCED_MS:
            return
        if last is not None and last.text != last.section and says_how_long(last.text):
            return
        self.say(self.stay_announcement(step))

    def stay_announcement(self, step: Stay) -> str:
        if self.open_here(step):
            return f"Rest here {OPEN_LENGTH}."
        if self.bell_next and self.options.bells != "off":
            return "Rest here until the bell."
        verb = "Keep moving" if isinstance(step, Move) else "Stay here"
        if step.span.breaths:
            return f"{verb} for {_count(step.span.breaths, 'breath')}."
        return f"{verb} a while."

    def step(self, step: Step, side: Side | None = None) -> None:
        if self.left_out(step):
            return
        if self.avoided(step):
            self.avoided_run((step,), side, bell_after=False)
            return
        self.skip_note = None
        self.next_step(step.line)
        match step:
            case Say(text=text, brief=brief):
                cue = self.cue_text(text, brief)
                if cue:
                    self.say(self.fill_duration(_fill_side(cue, side), step))
            case Pause(span=span):
                self.announce_stay(step)
                self.pause(span.ms, span.breaths)
            case Hold():
                self.announce_stay(step)
                if self.open_here(step):  # how to go on, said first: the rest is theirs
                    self.say(OPEN_REST_KEY)
                self.hold(step, side)
                if step.open:
                    self.mark_open()
            case Move(span=span, reminders=reminders):
                self.announce_stay(step)
                ms = span.breaths * (self.inhale_ms + self.exhale_ms) or self.scaled(span.ms)
                said = () if self.minimal else reminders
                self.timed_hold(ms, [_fill_side(text, side) for text in said])
            case Rounds():
                self.rounds(step, side)
            case Bell(sound=sound):
                self.bell(sound)
            case Sides():
                self.sides(step)

    def cue_text(self, text: str, brief: str | None) -> str | None:
        """What a say step speaks at the chosen amount of talking (None: nothing)."""
        if self.options.cues == "full":
            return text
        if self.options.cues == "brief":
            return brief or text
        return brief  # minimal: only the short forms, which name the pose

    def fill_duration(self, text: str, say: Say) -> str:
        """{duration} filled with the length, in words, of the stay that follows the say."""
        if DURATION_PLACEHOLDER not in text:
            return text
        if self.after_say is None:
            self.after_say = {
                id(step): rest
                for section in self.script.sections
                for step, rest in steps_after(section.steps)
                if says_duration(step)
            }
        rest = self.after_say.get(id(say), ())
        stay = self.stay_that_runs(rest) or first_stay(rest)
        if stay is None:  # a script made in code, unchecked: say no number rather than none
            return text.replace(DURATION_PLACEHOLDER, "a while")
        if self.open_here(stay):
            return text.replace(DURATION_PLACEHOLDER, OPEN_LENGTH)
        return text.replace(DURATION_PLACEHOLDER, spoken_duration(self.stay_ms(stay)))

    def open_here(self, stay: Stay) -> bool:
        """Whether `stay` lasts until a key here (an open hold, in live play at a terminal)."""
        return isinstance(stay, Hold) and stay.open and self.options.open_rests

    def mark_open(self) -> None:
        """The hold just built is open: its last event says so, a silence where play may wait
        (the rest's set length sounds first, so a render and play agree up to here)."""
        last = self.events[-1]
        if last.kind == "speech":  # a reminder ran to the end: the wait begins after a gap
            self.emit("silence", PHASE_GAP_MS)
            last = self.events[-1]
        self.events[-1] = replace(last, open=True)

    def stay_that_runs(self, steps: tuple[Step, ...]) -> Stay | None:
        """The first hold, pause or move among `steps` that plays at these options: left-out
        steps skipped, an avoided step's alternative in its place."""
        for step in steps:
            if step.optional and step.line in self.options.leave_out:
                continue
            if any(tag in self.options.avoid for tag in step.tags):
                stay = self.stay_that_runs(step.instead)
                if stay is not None:
                    return stay
                continue
            if isinstance(step, Pause | Hold | Move):
                return step
        return None

    def stay_ms(self, stay: Stay) -> int:
        """A stay's length at these options, from them alone: no clip length changes it (a
        reminder that overruns a hold lengthens the hold, never what is said of it)."""
        if stay.span.breaths:
            return stay.span.breaths * (self.inhale_ms + self.exhale_ms)
        return self.scaled(stay.span.ms)

    def note_left_out(self, tag: str) -> None:
        """One short note for a run of left-out steps, so the silence is never a mystery."""
        note = f"Leaving out {AVOIDED_NAMES[tag]}. Rest here for a breath."
        if note == self.skip_note:
            return
        self.skip_note = note
        self.next_step(0)  # generated: no event may point at an avoided step
        self.say(note)
        self.pause(0, 1)

    def sides(self, block: Sides) -> None:
        for number, side in enumerate(_both_sides(block.first)):
            self.next_step(block.line)
            if number == 1 and block.rest is not None:
                self.say(REST_BETWEEN_SIDES)  # the rest belongs to neither side
                self.pause(block.rest.ms, block.rest.breaths)
            self.labels.side = side
            self.say(side_announcement(side, first=number == 0))
            self.steps(block.steps, side, bell_after=False)
            self.labels.side = None

    def pause(self, ms: int, breaths: int) -> None:
        if breaths:
            for _ in range(breaths):
                self.breath_cycle()
        else:
            self.emit("silence", self.scaled(ms))

    def breath_cycle(self, inhale_cue: str | None = None, exhale_cue: str | None = None) -> None:
        """One inhale and one exhale; a cue starts exactly on its phase and may lengthen it."""
        self.breath_phase("inhale", self.inhale_ms, inhale_cue)
        self.breath_phase("exhale", self.exhale_ms, exhale_cue)

    def breath_phase(self, phase: Phase, base_ms: int, cue: str | None) -> None:
        phase_start = self.t
        phase_ms = base_ms
        if cue is not None:
            self.speak(cue, phase)
            phase_ms = max(base_ms, self.t - phase_start + PHASE_GAP_MS)
        self.breathe_until(phase_start + phase_ms, phase)

    def breathe_until(self, end_ms: int, phase: Phase) -> None:
        """The silent rest of a breath phase: a tone that rises or falls with it, when asked."""
        if self.options.breath_tones and end_ms - self.t >= MIN_TONE_MS:
            self.emit("tone", end_ms - self.t, phase, phase)
        else:
            self.silence_until(end_ms, phase)

    def breath_cue(self, step: Rounds, number: int) -> BreathCue:
        """The round's words: the full cue first, then short forms, or just the breath."""
        plain = BreathCue("Inhale.", "Exhale.")
        if self.minimal or (self.options.cues == "brief" and number > 1):
            if step.alternate:
                return BreathCue("Inhale, {side}.", "Exhale.")
            return plain
        return step.first if number == 1 or step.later is None else step.later

    def rounds(self, step: Rounds, side: Side | None) -> None:
        for number in range(1, step.count + 1):
            cue = self.breath_cue(step, number)
            prefix = count_prefix(number, step.count)
            if step.alternate is None:
                self.breath_cycle(
                    prefix + _fill_side(cue.inhale, side), _fill_side(cue.exhale, side)
                )
                continue
            for turn, this_side in enumerate(_both_sides(step.alternate)):
                self.labels.side = this_side  # alternating: each breath belongs to one side
                inhale = (prefix if turn == 0 else "") + _fill_side(cue.inhale, this_side)
                self.breath_cycle(inhale, _fill_side(cue.exhale, this_side))
            self.labels.side = side

    def hold(self, step: Hold, side: Side | None) -> None:
        reminders = [] if self.minimal else [_fill_side(text, side) for text in step.reminders]
        if step.span.breaths:
            self.breath_hold(step.span.breaths, reminders)
        else:
            self.timed_hold(self.scaled(step.span.ms), reminders)

    def breath_hold(self, cycles: int, reminders: list[str]) -> None:
        """N breath cycles; reminders start on an inhale, spread out, never over each other."""
        pending = deque(reminders)
        due = deque(_spread(len(reminders), cycles))
        hold_start = self.t
        cycle_ms = self.inhale_ms + self.exhale_ms
        for cycle in range(cycles):
            cycle_start = hold_start + cycle * cycle_ms
            voice_free = self.t <= cycle_start
            if pending and cycle >= due[0] and voice_free:
                due.popleft()
                self.speak(pending.popleft(), "inhale")
            if self.t < cycle_start + self.inhale_ms:
                self.breathe_until(cycle_start + self.inhale_ms, "inhale")
            if self.t < cycle_start + cycle_ms:
                self.breathe_until(cycle_start + cycle_ms, "exhale")
        for leftover in pending:  # reminders that did not fit: say them, never drop them
            self.gap_after_speech()
            self.speak(leftover)
        self.gap_after_speech()  # a reminder ran past the hold's last breath

    def gap_after_speech(self) -> None:
        """Never two voices back to back: a short gap after speech that ran long."""
        if self.events and self.events[-1].kind == "speech":
            self.emit("silence", PHASE_GAP_MS)

    def timed_hold(self, hold_ms: int, reminders: list[str]) -> None:
        start = self.t
        for number, offset in enumerate(_spread_ms(len(reminders), hold_ms)):
            # a reminder that overran leaves a short gap before the next, never none
            after_previous = self.t + PHASE_GAP_MS if number else self.t
            self.silence_until(max(start + offset, after_previous))
            self.speak(reminders[number])
        self.silence_until(max(start + hold_ms, self.t + PHASE_GAP_MS))


def _estimated_ms(text: str) -> int:
    return ESTIMATED_MS_PER_CHAR * len(text)


def _has_bell_step(script: Script) -> bool:
    def has_bell(steps: tuple[Step, ...]) -> bool:
        return any(
            isinstance(step, Bell)
            or has_bell(step.instead)
            or (isinstance(step, Sides) and has_bell(step.steps))
            for step in steps
        )

    return any(has_bell(section.steps) for section in script.sections)


def _has_timed_step(steps: tuple[Step, ...]) -> bool:
    """Whether any of `steps` (or of a sides block among them) lasts a time of its own."""
    return any(
        isinstance(step, Hold | Pause | Move | Rounds)
        or (isinstance(step, Sides) and _has_timed_step(step.steps))
        for step in steps
    )


def _count(number: int, noun: str) -> str:
    """Such as "three breaths" or "one breath": in words up to twenty."""
    word = NUMBER_WORDS[number] if number < len(NUMBER_WORDS) else str(number)
    return f"{word} {noun}" if number == 1 else f"{word} {noun}s"


def _both_sides(first: Side) -> tuple[Side, Side]:
    return ("right", "left") if first == "right" else ("left", "right")


def _fill_side(text: str, side: Side | None) -> str:
    """{side} and {other} filled: "right" and "left" on the right side."""
    if not side:
        return text
    other = "left" if side == "right" else "right"
    return text.replace(SIDE_PLACEHOLDER, side).replace(OTHER_PLACEHOLDER, other)


def _spread(count: int, cycles: int) -> list[int]:
    """Cycle numbers for `count` reminders spread through `cycles`, leaving the first quiet."""
    return [max(1, (index + 1) * cycles // (count + 1)) for index in range(count)]


def _spread_ms(count: int, hold_ms: int) -> list[int]:
    return [(index + 1) * hold_ms // (count + 1) for index in range(count)]
