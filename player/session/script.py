"""Session scripts: the typed model, and reading a YAML file into it with every problem named.

YAML is only the surface. Every scalar is read as text and typed by our own rules, so
YAML 1.1's surprises (`1:30` as 90, `017` as 15, `no` as False) never reach the timeline,
and tags, anchors and duplicate keys are refused rather than silently interpreted.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, TypeAlias, TypeGuard

import yaml

from player.errors import ScriptProblems, is_plain_key, quoted_key
from player.reading import FileTooLarge, NotARegularFile, read_regular_file
from player.session.durations import DurationError, Span, parse_count, parse_duration

Side = Literal["right", "left"]
BellSound = Literal["start", "section", "end"]
Tag = Literal["belly-down", "twist", "kneeling", "backbend", "inversion", "standing", "wrists"]
# Where the body is during a pose: the composer groups poses by it, and speaks a transition
# when it changes.
Position = Literal["back", "side", "belly", "hands-and-knees", "kneeling", "seated", "standing"]
Work = Literal["lower-back", "upper-back", "spine", "strength", "hips"]  # what a pose works
Role = Literal["arrive", "warm-up", "main", "cool-down", "rest"]  # its part in a session

MAX_FILE_BYTES = 1_000_000
MAX_STEPS = 2_000
MAX_DEPTH = 20
MAX_TEXT_CHARS = 600
MAX_LIST_ITEMS = 20  # props, cautions, reminders of one hold
MAX_SECTIONS = 255  # each is a chapter, and an ID3 table of contents lists at most 255
MAX_UNANNOUNCED_MS = 20_000  # a longer silence must be announced by the cue before it
MAX_REST_BETWEEN_SIDES_MS = 20_000
BELL_ALLOWANCE_MS = 5_000  # a timer's later intervals are shorter by the bell that starts them
TOO_LARGE = f"the file is larger than {MAX_FILE_BYTES // 1000} kB; split it"
MAX_QUOTED_CHARS = 30  # of a value quoted back in a problem line
DEFAULT_INHALE_MS = 4_000
DEFAULT_EXHALE_MS = 6_000
SIDE_PLACEHOLDER = "{side}"
OTHER_PLACEHOLDER = "{other}"  # the other side's word
DURATION_PLACEHOLDER = "{duration}"  # the length of the stay after a say, in words
SIDE_PLACEHOLDERS = (SIDE_PLACEHOLDER, OTHER_PLACEHOLDER)
PLACEHOLDERS = (*SIDE_PLACEHOLDERS, DURATION_PLACEHOLDER)


@dataclass(frozen=True, kw_only=True)
class Marks:
    """What any step may carry besides its own fields."""

    optional: bool = False  # may be left out to fit a target length
    tags: tuple[Tag, ...] = ()  # what the step asks of the body, for --avoid
    instead: tuple[Step, ...] = ()  # spoken in its place when its tags are avoided


@dataclass(frozen=True)
class Say(Marks):
    """A spoken cue; `brief` is its short form for people who know the practice."""

    text: str
    line: int
    brief: str | None = None


@dataclass(frozen=True)
class Pause(Marks):
    """Silence: a time, or a number of breath cycles."""

    span: Span
    line: int


@dataclass(frozen=True)
class Hold(Marks):
    """Stay in a pose for a time or N breath cycles; reminders are spoken spread through it.

    An `open` hold is a rest for as long as the listener likes: live play at a terminal waits
    for a key after it; a render, or play with no keyboard, gives it its set length."""

    span: Span
    reminders: tuple[str, ...]
    line: int
    open: bool = False


@dataclass(frozen=True)
class Move(Marks):
    """A movement repeated at the person's own pace for a time; no breath is counted aloud."""

    span: Span
    reminders: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class BreathCue:
    """What is said as an inhale begins and as an exhale begins."""

    inhale: str
    exhale: str


@dataclass(frozen=True)
class Rounds(Marks):
    """N guided breaths; the first round says `first`, later rounds the shorter `later` form."""

    count: int
    first: BreathCue
    later: BreathCue | None
    line: int
    alternate: Side | None = None  # each round runs on both sides, this side first


@dataclass(frozen=True)
class Bell(Marks):
    """A bell struck on purpose inside a section (start, section and end bells are automatic)."""

    sound: BellSound
    line: int


@dataclass(frozen=True)
class Sides(Marks):
    """Steps run once for each side, `first` side first, with {side} filled into the text."""

    steps: tuple[Step, ...]
    first: Side
    line: int
    rest: Span | None = None  # a short rest between the two sides


Step: TypeAlias = Say | Pause | Hold | Move | Rounds | Bell | Sides
Stay: TypeAlias = Pause | Hold | Move  # a step that lasts a time: what {duration} measures


@dataclass(frozen=True)
class Pose:
    """A named pose: a run of a section's steps (they stand in the section as if written
    there, so a pose plays exactly as its steps), and the facts a composer reads of it."""

    name: str
    position: Position
    works: tuple[Work, ...]
    strength: int  # 1 gentle, 2 moderate, 3 strong
    role: Role
    counterpose: bool  # it eases the back after a backbend or a deep twist
    props: tuple[str, ...]
    section: int  # the index of its section
    first: int  # the index of its first step in the section's steps
    count: int  # how many steps it has
    line: int  # the line of its `- pose:`
    ends: Position | None = None  # where it ends, when not where it began (child's pose)

    @property
    def end_position(self) -> Position:
        return self.ends or self.position


@dataclass(frozen=True)
class Section:
    """A titled part of the practice; it becomes a chapter."""

    title: str
    steps: tuple[Step, ...]
    line: int


@dataclass(frozen=True)
class Breath:
    """The resting breath, in milliseconds, before pace is applied."""

    inhale_ms: int = DEFAULT_INHALE_MS
    exhale_ms: int = DEFAULT_EXHALE_MS


@dataclass(frozen=True)
class Script:
    """A whole session script, valid by construction."""

    id: str
    path: str
    title: str
    summary: str
    focus: str
    level: str
    props: tuple[str, ...]
    cautions: tuple[str, ...]
    breath: Breath
    sections: tuple[Section, ...]
    poses: tuple[Pose, ...] = ()
    # the length it is written for: show, play and render fit it there unless told otherwise
    length_ms: int | None = None
    # the line where each spoken text first stands in the file, for messages about a cue
    text_lines: tuple[tuple[str, int], ...] = field(default=(), compare=False, repr=False)

    def pose_steps(self, pose: Pose) -> tuple[Step, ...]:
        return self.sections[pose.section].steps[pose.first : pose.first + pose.count]

    def pose_lines(self, pose: Pose) -> set[int]:
        """The script lines of a pose's steps, those inside them too: its events' lines."""
        return step_lines(self.pose_steps(pose))

    def line_of(self, text: str) -> int:
        """The script line of a text as written (0 when it is not written as such)."""
        return next((line for written, line in self.text_lines if written == text), 0)


TOP_KEYS = (
    *("title", "summary", "focus", "level", "props", "cautions", "breath", "length"),
    "sections",
)
SECTION_KEYS = ("title", "steps")
POSE_KEYS = (
    *("pose", "position", "ends", "works", "strength", "role", "counterpose", "props"),
    "steps",
)
POSITIONS: tuple[Position, ...] = (
    *("back", "side", "belly", "hands-and-knees", "kneeling", "seated", "standing"),
)
WORKS: tuple[Work, ...] = ("lower-back", "upper-back", "spine", "strength", "hips")
ROLES: tuple[Role, ...] = ("arrive", "warm-up", "main", "cool-down", "rest")
STRENGTHS = (1, 2, 3)
STEP_KINDS = ("say", "pause", "hold", "move", "rounds", "bell", "sides")
STEP_EXTRA_KEYS = {
    "say": ("brief",),
    "pause": (),
    "hold": ("reminders", "open"),
    "move": ("reminders",),
    "rounds": ("inhale", "exhale", "then", "alternate"),
    "bell": (),
    "sides": ("first", "rest"),
}
STEP_MARK_KEYS = ("optional", "tags", "instead")  # allowed on every step
TAGS: tuple[Tag, ...] = (
    "belly-down",
    "twist",
    "kneeling",
    "backbend",
    "inversion",
    "standing",
    "wrists",
)
SIDES: tuple[Side, ...] = ("right", "left")
YES_NO = {"yes": True, "true": True, "no": False, "false": False}
# The cue before a long stay must say how long it lasts, or that a bell ends it.
_SAYS_HOW_LONG = re.compile(
    r"\b(\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty"
    r"|thirty|forty|fifty|few|several|minutes?|seconds?|breaths|bell|a breath)\b"
    r"|\{duration\}",  # filled with a length in words ("about fifty seconds")
    re.IGNORECASE,
)


def step_lines(steps: tuple[Step, ...]) -> set[int]:
    """The lines of `steps` and of every step inside them (sides, alternatives)."""
    lines: set[int] = set()
    for step in steps:
        lines.add(step.line)
        lines |= step_lines(step.instead)
        if isinstance(step, Sides):
            lines |= step_lines(step.steps)
    return lines


def says_how_long(text: str) -> bool:
    """Whether a cue tells how long the stay after it lasts, or that a bell ends it."""
    return _SAYS_HOW_LONG.search(text) is not None


BREATH_KEYS = ("inhale", "exhale")
BELL_SOUNDS: tuple[BellSound, ...] = ("start", "section", "end")


def load_script(path: str | Path) -> Script:
    """Read and validate a script file; raise ScriptProblems listing every problem found."""
    path = Path(path)
    display = str(path)
    try:
        data = read_regular_file(path, MAX_FILE_BYTES)
    except NotARegularFile as err:
        raise ScriptProblems(
            [f"{display}: this is {err.kind}, not a script file: give the path of a .yaml script"]
        ) from None
    except FileTooLarge:
        raise ScriptProblems([f"{display}: {TOO_LARGE}"]) from None
    except OSError as err:
        raise ScriptProblems([f"{display}: cannot read the file: {err.strerror}"]) from None
    return parse_script(data, display, session_id=path.stem)


def parse_script(data: bytes, display: str, session_id: str = "session") -> Script:
    """Parse the bytes of a script; `display` names the file in problem lines."""
    reader = _Reader(display)
    text = reader.decode(data)
    root = reader.compose(text) if text is not None else None
    script = reader.script(root, session_id) if root is not None else None
    if reader.problems or script is None:
        raise ScriptProblems(reader.problems or [f"{display}: the script is empty"])
    return script


def check_text(text: str, *, in_sides: bool, in_say: bool = False) -> str | None:
    """Say what is wrong with a cue's text, or None when it can be spoken as written.

    `in_sides`: the text is said on a side (a sides block, alternating rounds), so {side}
    and {other} may stand in it; `in_say`: it is a say step's, so {duration} may."""
    if not text.strip():
        return "the text is empty: write what should be said"
    if len(text) > MAX_TEXT_CHARS:
        return (
            f"the text has {len(text)} characters; split it into cues of at most {MAX_TEXT_CHARS}"
        )
    for char in text:
        if unicodedata.category(char) in ("Cc", "Cf", "Co", "Cs") and char not in "\n\t":
            return f"the text holds the control character U+{ord(char):04X}: remove it"
    if re.search(r"</?[A-Za-z!?][^<>]*>", text):
        return "the text holds markup such as <break/>, which would be read aloud: use a pause step"
    if not any(char.isalpha() for char in text):
        return "the text has no words to say: write the cue in words"
    placeholders = set(re.findall(r"\{[^{}]*\}", text))
    unknown = placeholders - set(PLACEHOLDERS)
    if unknown:
        return (
            f"unknown placeholder {sorted(unknown)[0]}: the placeholders are "
            f"{', '.join(PLACEHOLDERS[:-1])} and {PLACEHOLDERS[-1]}"
        )
    for placeholder in SIDE_PLACEHOLDERS:
        if placeholder in placeholders and not in_sides:
            return f"{placeholder} works only inside a sides block or alternating rounds"
    if DURATION_PLACEHOLDER in placeholders and not in_say:
        return (
            f"{DURATION_PLACEHOLDER} works only in a say step (or its brief), "
            "before the hold, pause or move whose length it says"
        )
    return None


def steps_after(
    steps: tuple[Step, ...], after: tuple[Step, ...] = ()
) -> Iterator[tuple[Step, tuple[Step, ...]]]:
    """Every step, nested ones too, with the steps that follow it as it plays: the rest of its
    list, then, for an alternative (`instead`), what follows the step it stands in for. A
    side's steps end with that side."""
    for index, step in enumerate(steps):
        rest = steps[index + 1 :] + after
        yield step, rest
        if step.instead:
            yield from steps_after(step.instead, rest)
        if isinstance(step, Sides):
            yield from steps_after(step.steps)


def first_stay(steps: tuple[Step, ...]) -> Stay | None:
    """The first hold, pause or move among `steps`, as written."""
    return next((step for step in steps if isinstance(step, Pause | Hold | Move)), None)


def says_duration(step: Step) -> TypeGuard[Say]:
    """A say step whose text or brief holds {duration}."""
    return isinstance(step, Say) and any(
        DURATION_PLACEHOLDER in text for text in (step.text, step.brief or "")
    )


def normalize_text(text: str) -> str:
    """Collapse the line breaks and runs of spaces that YAML block text carries."""
    return " ".join(text.split())


class _Reader:
    """Walks the composed YAML nodes, building the model and collecting problems."""

    def __init__(self, display: str) -> None:
        self.display = display
        self.problems: list[str] = []
        self.step_count = 0
        self.lines: list[str] = []
        self.text = ""
        self.text_lines: dict[str, int] = {}
        self.cycle_ms = DEFAULT_INHALE_MS + DEFAULT_EXHALE_MS  # the script's breath, once read
        self.poses: list[Pose] = []
        self.section_poses: list[Pose] = []  # of the section being read; its index comes last

    def problem(self, line: int | None, where: str, what: str) -> None:
        place = f"{self.display}:{line}" if line else self.display
        self.problems.append(f"{place}: {where}: {what}" if where else f"{place}: {what}")

    # -- bytes to nodes -------------------------------------------------------------

    def decode(self, data: bytes) -> str | None:
        if len(data) > MAX_FILE_BYTES:
            self.problem(None, "", TOO_LARGE)
            return None
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            self.problem(None, "", "the file is UTF-16 text: save it as UTF-8")
            return None
        if b"\x00" in data:
            self.problem(None, "", "the file is binary, not a YAML script")
            return None
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]  # a byte-order mark from a Windows editor is harmless
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            line = data[: err.start].count(b"\n") + 1
            self.problem(line, "", "the file is not UTF-8 text: save it as UTF-8")
            return None
        if not text.strip():
            self.problem(None, "", "the script is empty: start with a title and sections")
            return None
        return text

    def compose(self, text: str) -> yaml.Node | None:
        self.text = text
        self.lines = text.splitlines()
        if not self._scan_is_plain(text):
            return None
        try:
            return yaml.compose(text, Loader=_Loader)
        except yaml.YAMLError as err:  # pragma: no cover - the scan already parsed it
            self._yaml_problem(err)
            return None

    def _scan_is_plain(self, text: str) -> bool:
        """Refuse tags, anchors, aliases and deep nesting before composing: nothing runs,
        nothing explodes (libyaml's composer recurses, and crashes on deep nesting)."""
        clean = True
        depth = 0
        try:
            for event in yaml.parse(text, Loader=_Loader):
                line = event.start_mark.line + 1 if event.start_mark else 0
                if isinstance(event, yaml.CollectionStartEvent):
                    depth += 1
                    if depth > MAX_DEPTH:
                        self.problem(line, "", self._too_deep)
                        return False
                elif isinstance(event, yaml.CollectionEndEvent):
                    depth -= 1
                if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                    self.problem(
                        line,
                        "",
                        "anchors and aliases (&name, *name) are not supported: "
                        "write the text out in full",
                    )
                    return False
                tag: str | None = getattr(event, "tag", None)
                if tag and not _is_plain_tag(tag):
                    shown = _shortened(tag, 2 * MAX_QUOTED_CHARS)
                    self.problem(line, "", f"the tag {shown} is not allowed: remove it")
                    clean = False
        except yaml.YAMLError as err:
            deep_line = _line_nested_too_deep(text)
            if deep_line is not None:
                # Newer PyYAML refuses deep nesting itself, before any event reaches us.
                self.problem(deep_line, "", self._too_deep)
            else:
                self._yaml_problem(err)
            return False
        return clean

    _too_deep = f"the script nests more than {MAX_DEPTH} levels deep: a session needs only a few"

    def _yaml_problem(self, err: yaml.YAMLError) -> None:
        if isinstance(err, yaml.reader.ReaderError):  # a character YAML does not allow
            at = self.text[: err.position].count("\n") + 1
            code = err.character if isinstance(err.character, int) else ord(err.character)
            self.problem(at, "", f"the file holds the control character U+{code:04X}: remove it")
            return
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        line: int | None = int(mark.line) + 1 if mark else None
        what = _shortened(getattr(err, "problem", None) or str(err).splitlines()[0], 100)
        hint = "this is not valid YAML"
        text_line = self.lines[line - 1] if line and line <= len(self.lines) else ""
        indent = text_line[: len(text_line) - len(text_line.lstrip())]
        if "\t" in indent or "'\\t'" in what:
            hint = "indent with spaces, not tabs"
        self.problem(line, "", f"{hint} ({what})")

    # -- nodes to the model -----------------------------------------------------------

    def script(self, root: yaml.Node, session_id: str) -> Script | None:
        # Some other file (a password file, a config) read as YAML is one text, or a mapping
        # whose every key is a whole line: say so once, and repeat nothing of it.
        if isinstance(root, yaml.ScalarNode):
            held = "the text this file holds" if root.value else "nothing"
            self.problem(
                _line(root),
                "",
                f"the script must be a mapping of keys to values, not {held}: "
                "start it with title: and sections:",
            )
            return None
        if isinstance(root, yaml.MappingNode) and not any(
            isinstance(key, yaml.ScalarNode) and key.value in TOP_KEYS for key, _ in root.value
        ):
            self.problem(
                _line(root),
                "",
                f"this is not a session script: it has none of the keys {', '.join(TOP_KEYS)}; "
                "start it with title: and sections:",
            )
            return None
        fields = self.mapping(root, "", TOP_KEYS, what="the script")
        if fields is None:
            return None
        title = self.text_field(fields, "title", "", required=True, line=_line(root))
        breath = self.breath(fields.get("breath"))
        self.cycle_ms = breath.inhale_ms + breath.exhale_ms
        sections_node = fields.get("sections")
        if sections_node is None:
            self.problem(_line(root), "", "the script has no sections: add a sections list")
            sections: tuple[Section, ...] = ()
        else:
            sections = self.sections(sections_node)
        length = None
        if "length" in fields:
            span = self.span(fields["length"], "length", allow_breaths=False)
            length = span.ms if span else None
        script = Script(
            id=session_id,
            path=self.display,
            title=title or "",
            summary=self.text_field(fields, "summary", "") or "",
            focus=self.text_field(fields, "focus", "") or "",
            level=self.text_field(fields, "level", "") or "",
            props=self.text_list(fields.get("props"), "props"),
            cautions=self.text_list(fields.get("cautions"), "cautions"),
            breath=breath,
            sections=sections,
            poses=tuple(self.poses),
            length_ms=length,
            text_lines=tuple(self.text_lines.items()),
        )
        return script

    def mapping(
        self, node: yaml.Node, where: str, allowed: tuple[str, ...], what: str
    ) -> dict[str, yaml.Node] | None:
        if not isinstance(node, yaml.MappingNode):
            self.problem(
                _line(node),
                where,
                f"{what} must be a mapping of keys to values, not {_describe(node)}",
            )
            return None
        fields: dict[str, yaml.Node] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(_line(key_node), where, "a key must be a plain word")
                continue
            key = key_node.value
            if key in fields:
                self.problem(
                    _line(key_node),
                    _join(where, key if is_plain_key(key) else "a key"),
                    f"the key appears twice (first on "
                    f"line {first_line[key]}); YAML would silently keep the last: keep one",
                )
                continue
            if key not in allowed:
                self.problem(_line(key_node), where, _unknown_key(key, allowed))
                continue
            fields[key] = value_node
            first_line[key] = _line(key_node)
        return fields

    def scalar(self, node: yaml.Node, where: str, what: str) -> str | None:
        if not isinstance(node, yaml.ScalarNode):
            self.problem(
                _line(node), where, f"{what} must be a single value, not {_describe(node)}"
            )
            return None
        if node.value == "" and not node.style:
            self.problem(_line(node), where, f"{what} is missing: write a value after the colon")
            return None
        return str(node.value)

    def text_field(
        self,
        fields: dict[str, yaml.Node],
        key: str,
        where: str,
        *,
        required: bool = False,
        line: int | None = None,
    ) -> str | None:
        """Spoken text under `key`; `line` names where a missing required key belongs."""
        node = fields.get(key)
        if node is None:
            if required:
                self.problem(line, where, f"{key} is missing: add `{key}: ...`")
            return None
        value = self.scalar(node, _join(where, key), "the value")
        if value is None:
            return None
        return self.spoken(value, node, _join(where, key), in_sides=False)

    def spoken(
        self,
        value: str | None,
        node: yaml.Node,
        where: str,
        *,
        in_sides: bool,
        in_say: bool = False,
    ) -> str | None:
        """The cue text normalized, or None after recording why it cannot be spoken."""
        if value is None:
            return None
        fault = check_text(value, in_sides=in_sides, in_say=in_say)
        if fault:
            self.problem(_line(node), where, fault)
            return None
        text = normalize_text(value)
        self.text_lines.setdefault(text, _line(node))
        return text

    def text_list(
        self, node: yaml.Node | None, where: str, *, in_sides: bool = False
    ) -> tuple[str, ...]:
        """A list of spoken text (props, cautions, reminders); one entry may stand alone."""
        if node is None:
            return ()
        if isinstance(node, yaml.ScalarNode) and node.value:
            items = [node]
        elif isinstance(node, yaml.SequenceNode):
            items = list(node.value)
        else:
            self.problem(_line(node), where, f"must be a list of text, not {_describe(node)}")
            return ()
        if len(items) > MAX_LIST_ITEMS:
            self.problem(_line(node), where, f"at most {MAX_LIST_ITEMS} entries: shorten the list")
            return ()
        values = []
        for index, item in enumerate(items, 1):
            place = f"{where} {index}"
            value = self.scalar(item, place, "each entry")
            checked = self.spoken(value, item, place, in_sides=in_sides)
            if checked:
                values.append(checked)
        return tuple(values)

    def breath(self, node: yaml.Node | None) -> Breath:
        if node is None:
            return Breath()
        fields = self.mapping(node, "breath", BREATH_KEYS, what="breath")
        if fields is None:
            return Breath()
        inhale = self.time(fields.get("inhale"), "breath, inhale", DEFAULT_INHALE_MS)
        exhale = self.time(fields.get("exhale"), "breath, exhale", DEFAULT_EXHALE_MS)
        for value, name in ((inhale, "inhale"), (exhale, "exhale")):
            if not 1_000 <= value <= 30_000:
                self.problem(_line(node), f"breath, {name}", "a breath phase must last 1s to 30s")
        return Breath(inhale, exhale)

    def time(self, node: yaml.Node | None, where: str, default: int) -> int:
        if node is None:
            return default
        span = self.span(node, where, allow_breaths=False)
        return span.ms if span else default

    def span(self, node: yaml.Node, where: str, *, allow_breaths: bool) -> Span | None:
        value = self.scalar(node, where, "the duration")
        if value is None:
            return None
        try:
            return parse_duration(value, allow_breaths=allow_breaths)
        except DurationError as err:
            self.problem(_line(node), where, str(err))
            return None

    def sections(self, node: yaml.Node) -> tuple[Section, ...]:
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self.problem(
                _line(node), "sections", "must be a list of sections, each with a title and steps"
            )
            return ()
        if len(node.value) > MAX_SECTIONS:
            self.problem(
                _line(node),
                "sections",
                f"a session has at most {MAX_SECTIONS} sections (each is a chapter): merge some",
            )
            return ()
        sections: list[Section] = []
        for index, item in enumerate(node.value, 1):
            where = f"section {index}"
            fields = self.mapping(item, where, SECTION_KEYS, what="a section")
            if fields is None:
                continue
            title = self.text_field(fields, "title", where, required=True, line=_line(item))
            steps_node = fields.get("steps")
            if steps_node is None:
                self.problem(_line(item), where, "the section has no steps: add a steps list")
                continue
            self.section_poses = []
            steps = self.steps(steps_node, where, in_sides=False)
            self.check_durations_have_a_stay(steps, where)
            if title and steps:
                index = len(sections)
                self.poses += [replace(pose, section=index) for pose in self.section_poses]
                sections.append(Section(title=title, steps=steps, line=_line(item)))
        return tuple(sections)

    def steps(
        self,
        node: yaml.Node,
        where: str,
        *,
        in_sides: bool,
        nested: bool = False,
        in_pose: bool = False,
    ) -> tuple[Step, ...]:
        """A list of steps; `nested` for those of a sides block, an alternative or a pose (a
        pose's steps join its section's list, which is checked whole: `in_pose`)."""
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self.problem(
                _line(node), _join(where, "steps"), "must be a list with at least one step"
            )
            return ()
        steps: list[Step] = []
        for index, item in enumerate(node.value, 1):
            self.step_count += 1
            if self.step_count == MAX_STEPS + 1:
                self.problem(
                    _line(item),
                    where,
                    f"a script may have at most {MAX_STEPS} steps: split it into several sessions",
                )
            if self.step_count > MAX_STEPS:
                return ()
            place = f"{where}, step {index}"
            if _is_pose(item):
                steps += self.pose(item, place, at=len(steps), top=not nested and not in_sides)
                continue
            step = self.step(item, place, in_sides=in_sides)
            if step is not None:
                self.check_announced(step, steps[-2:], place)
                steps.append(step)
        if in_pose:
            return tuple(steps)
        self.check_bells_promised(steps, where, ends_section=not nested)
        if not nested and steps and isinstance(steps[-1], Bell):
            self.problem(
                steps[-1].line,
                f"{where}, step {len(steps)}",
                "a section's end rings a bell of its own (the next section's, or the end "
                "bell), so this one would only ring with it: remove it",
            )
        return tuple(steps)

    def pose(self, node: yaml.Node, where: str, *, at: int, top: bool) -> list[Step]:
        """A pose's steps, to stand in the section's list from index `at`; its facts are kept
        in `section_poses`. Only a section's own steps may be grouped into poses."""
        fields = self.mapping(node, where, POSE_KEYS, what="a pose")
        if fields is None:
            return []
        name = self.text_field(fields, "pose", where)
        where = f"{where}, pose {_excerpt(name)}" if name else where
        if not top:
            self.problem(_line(node), where, "a pose stands in a section's steps, not inside a "
                         "sides block, an alternative or another pose: move it out")  # fmt: skip
            return []
        steps_node = fields.get("steps")
        if steps_node is None:
            self.problem(_line(node), where, "a pose has steps: add a steps list")
            return []
        steps = self.steps(steps_node, where, in_sides=False, nested=True, in_pose=True)
        position = self.choice(fields, "position", where, POSITIONS, required=True)
        ends = self.choice(fields, "ends", where, POSITIONS)
        works = self.choices(fields, "works", where, WORKS)
        strength = self.choice(fields, "strength", where, tuple(map(str, STRENGTHS))) or "1"
        role = self.choice(fields, "role", where, ROLES) or "main"
        if not (name and steps and position):
            return list(steps)
        self.section_poses.append(
            Pose(
                name=name,
                position=position,  # type: ignore[arg-type]
                works=works,  # type: ignore[arg-type]
                strength=int(strength),
                role=role,  # type: ignore[arg-type]
                counterpose=self.yes_no(fields.get("counterpose"), _join(where, "counterpose")),
                props=self.text_list(fields.get("props"), _join(where, "props")),
                section=-1,  # known when the section is whole
                first=at,
                count=len(steps),
                line=_line(node),
                ends=ends if ends != position else None,  # type: ignore[arg-type]
            )
        )
        return list(steps)

    def choice(
        self,
        fields: dict[str, yaml.Node],
        key: str,
        where: str,
        allowed: tuple[str, ...],
        *,
        required: bool = False,
    ) -> str | None:
        """One of `allowed` under `key`, or None after recording why not."""
        node = fields.get(key)
        if node is None:
            if required:
                self.problem(None, where, f"{key} is missing: add `{key}:` ({', '.join(allowed)})")
            return None
        value = self.scalar(node, _join(where, key), "the value")
        if value is not None and value not in allowed:
            self.problem(
                _line(node),
                _join(where, key),
                f"{_excerpt(value)} is not one of {', '.join(allowed)}"
                f"{_did_you_mean(value, allowed)}",
            )
            return None
        return value

    def choices(
        self, fields: dict[str, yaml.Node], key: str, where: str, allowed: tuple[str, ...]
    ) -> tuple[str, ...]:
        """A list of values from `allowed` (one may stand alone)."""
        node = fields.get(key)
        if node is None:
            return ()
        items = [node] if isinstance(node, yaml.ScalarNode) else node.value
        if not isinstance(node, yaml.ScalarNode | yaml.SequenceNode):
            self.problem(_line(node), _join(where, key), f"must be a list, not {_describe(node)}")
            return ()
        values: list[str] = []
        for item in items:
            value = self.choice({key: item}, key, where, allowed)
            if value is not None and value not in values:
                values.append(value)
        return tuple(values)

    def check_durations_have_a_stay(self, steps: tuple[Step, ...], where: str) -> None:
        """A cue that says {duration} is followed, as it plays, by the stay it measures."""
        for step, rest in steps_after(steps):
            if says_duration(step) and first_stay(rest) is None:
                self.problem(
                    step.line,
                    where,
                    f"{DURATION_PLACEHOLDER} says the length of the hold, pause or move after "
                    "this cue, and none follows it: add one after it, or write the time out",
                )

    def check_bells_promised(self, steps: list[Step], where: str, ends_section: bool) -> None:
        """A stay announced as ending with a bell is followed by one (or by a section's end,
        which rings on its own; the end of a sides or instead list is not one)."""
        for index, step in enumerate(steps[1:], 1):
            before = steps[index - 1]
            after = steps[index + 1] if index + 1 < len(steps) else None
            if after is None and ends_section:
                continue
            promised = isinstance(before, Say) and re.search(r"\bbell\b", before.text, re.I)
            if isinstance(step, Hold | Move) and promised and not isinstance(after, Bell):
                self.problem(
                    step.line,
                    f"{where}, step {index + 1}",
                    "the cue before this stay promises a bell: add `- bell: section` after it",
                )

    def span_ms(self, span: Span) -> int:
        """A span's length at normal pace with the script's breath."""
        return span.breaths * self.cycle_ms if span.breaths else span.ms

    def check_announced(self, step: Step, earlier: list[Step], where: str) -> None:
        """No silence over 20 s comes unannounced: a cue first says to stay, and how long;
        or a bell ends a stay as long as this one (a timer's intervals: the cue before the
        first said what the bells mean)."""
        before = earlier[-1] if earlier else None
        if isinstance(step, Pause) and self.span_ms(step.span) > MAX_UNANNOUNCED_MS:
            self.problem(
                step.line,
                where,
                f"a silent pause over {MAX_UNANNOUNCED_MS // 1000}s leaves the listener "
                "wondering: make it a hold, after a say that tells how long to stay",
            )
        if not isinstance(step, Hold | Move) or self.span_ms(step.span) <= MAX_UNANNOUNCED_MS:
            return
        if isinstance(before, Say) and _SAYS_HOW_LONG.search(before.text):
            return
        if isinstance(before, Bell) and len(earlier) == 2 and _same_stay(earlier[0], step):
            return
        self.problem(
            step.line,
            where,
            f"a stay over {MAX_UNANNOUNCED_MS // 1000}s needs a say step just before it "
            'that says how long it lasts ("for five breaths") or that a bell will call '
            "the listener back",
        )

    def step(self, node: yaml.Node, where: str, *, in_sides: bool) -> Step | None:
        if isinstance(node, yaml.ScalarNode) and node.value == "bell":
            return Bell(sound="section", line=_line(node))
        if not isinstance(node, yaml.MappingNode):
            self.problem(
                _line(node), where, f"a step is a mapping such as `say: ...`, not {_describe(node)}"
            )
            return None
        keys = [key.value for key, _ in node.value if isinstance(key, yaml.ScalarNode)]
        kinds = list(dict.fromkeys(key for key in keys if key in STEP_KINDS))
        if len(kinds) != 1:
            self._step_kind_problem(node, where, keys, kinds)
            return None
        kind = kinds[0]
        allowed = (kind, *STEP_EXTRA_KEYS[kind], *STEP_MARK_KEYS)
        fields = self.mapping(node, where, allowed, what="a step")
        if fields is None:
            return None
        builder: Callable[[dict[str, yaml.Node], str, int, bool], Step | None] = getattr(
            self, f"_{kind}"
        )
        step = builder(fields, _join(where, kind), _line(node), in_sides)
        optional = self.yes_no(fields.get("optional"), _join(where, "optional"))
        tags = self.tags(fields.get("tags"), _join(where, "tags"))
        instead = self.instead(fields.get("instead"), _join(where, "instead"), tags, in_sides)
        if step is None or (not optional and not tags and not instead):
            return step
        return replace(step, optional=optional, tags=tags, instead=instead)

    def instead(
        self, node: yaml.Node | None, where: str, tags: tuple[Tag, ...], in_sides: bool
    ) -> tuple[Step, ...]:
        if node is None:
            return ()
        if not tags:
            self.problem(
                _line(node),
                where,
                "an alternative is used only when the step's tags are avoided: add tags",
            )
        return self.steps(node, where, in_sides=in_sides, nested=True)

    def yes_no(self, node: yaml.Node | None, where: str) -> bool:
        if node is None:
            return False
        value = self.scalar(node, where, "the value")
        if value is None:
            return False
        if value.lower() not in YES_NO:
            self.problem(_line(node), where, f"{_excerpt(value)} is not yes or no: write yes or no")
            return False
        return YES_NO[value.lower()]

    def tags(self, node: yaml.Node | None, where: str) -> tuple[Tag, ...]:
        if node is None:
            return ()
        items = [node] if isinstance(node, yaml.ScalarNode) else node.value
        if not isinstance(node, yaml.ScalarNode | yaml.SequenceNode):
            self.problem(_line(node), where, f"must be a list of tags, not {_describe(node)}")
            return ()
        tags: list[Tag] = []
        for item in items:
            value = self.scalar(item, where, "a tag")
            if value is None:
                continue
            if value not in TAGS:
                self.problem(
                    _line(item),
                    where,
                    f"unknown tag {_excerpt(value)}{_did_you_mean(value, TAGS)}: "
                    f"the tags are {', '.join(TAGS)}",
                )
                continue
            if value not in tags:
                tags.append(value)
        return tuple(tags)

    def _step_kind_problem(
        self, node: yaml.Node, where: str, keys: list[str], kinds: list[str]
    ) -> None:
        if kinds:
            self.problem(
                _line(node),
                where,
                f"a step does one thing, but this has {' and '.join(kinds)}"
                ": split it into separate steps",
            )
            return
        guesses = [g for key in keys for g in difflib.get_close_matches(key, STEP_KINDS, n=1)]
        hint = f" (did you mean {guesses[0]}?)" if guesses else ""
        self.problem(_line(node), where, f"a step needs one of {', '.join(STEP_KINDS)}{hint}")

    def _say(
        self, fields: dict[str, yaml.Node], where: str, line: int, in_sides: bool
    ) -> Step | None:
        node = fields["say"]
        value = self.scalar(node, where, "the cue")
        text = self.spoken(value, node, where, in_sides=in_sides, in_say=True)
        brief = None
        if "brief" in fields:
            brief_node = fields["brief"]
            brief_where = _join(where.rpartition(", say")[0], "brief")
            brief_value = self.scalar(brief_node, brief_where, "the short form")
            brief = self.spoken(
                brief_value, brief_node, brief_where, in_sides=in_sides, in_say=True
            )
        return Say(text=text, line=line, brief=brief) if text else None

    def _pause(
        self, fields: dict[str, yaml.Node], where: str, line: int, in_sides: bool
    ) -> Step | None:
        span = self.span(fields["pause"], where, allow_breaths=True)
        return Pause(span=span, line=line) if span else None

    def _hold(
        self, fields: dict[str, yaml.Node], where: str, line: int, in_sides: bool
    ) -> Step | None:
        span = self.span(fields["hold"], where, allow_breaths=True)
        reminders = self._reminders(fields, where, in_sides)
        is_open = self.yes_no(fields.get("open"), _join(where.rpartition(", hold")[0], "open"))
        return Hold(span=span, reminders=reminders, line=line, open=is_open) if span else None

    def _reminders(
        self, fields: dict[str, yaml.Node], where: str, in_sides: bool
    ) -> tuple[str, ...]:
        """A hold's or a move's optional reminders: cues spoken during it."""
        node = fields.get("reminders")
        if node is None:
            return ()
        return self.text_list(node, where + ", reminders", in_sides=in_sides)

    def _move(
        self, fields: dict[str, yaml.Node], where: str, line: int, in_sides: bool
    ) -> Step | None:
        span = self.span(fields["move"], where, allow_breaths=True)
        reminders = self._reminders(fields, where, in_sides)
        return Move(span=span, reminders=reminders, line=line) if span else None

    def _rounds(
        self, fields: dict[str, yaml.Node], where: str, line: int, in_sides: bool
    ) -> Step | None:
        count_text = self.scalar(fields["rounds"], where, "the number of rounds")
        count = None
        if count_text is not None:
            try:
                count = parse_count(count_text, "number of rounds")
            except DurationError as err:
                self.problem(_line(fields["rounds"]), where, str(err))
            if count is not None and count > 100:
                self.problem(_line(fields["rounds"]), where, "at most 100 rounds in one step")
                count = None
        alternate = None
        if "alternate" in fields:
            alternate = self.side(fields["alternate"], where + ", alternate")
            if alternate and in_sides:
                self.problem(
                    _line(fields["alternate"]),
                    where + ", alternate",
                    "alternating rounds already cover both sides: take them out of the sides block",
                )
                alternate = None
        with_side = in_sides or alternate is not None
        first = self.breath_cue(fields, where, line, with_side, required=True)
        later = None
        if "then" in fields:
            then = self.mapping(fields["then"], where + ", then", BREATH_KEYS, what="then")
            if then is not None:
                later = self.breath_cue(
                    then, where + ", then", _line(fields["then"]), with_side, required=True
                )
        if count is None or first is None:
            return None
        return Rounds(count=count, first=first, later=later, line=line, alternate=alternate)

    def side(self, node: yaml.Node, where: str) -> Side | None:
        value = self.scalar(node, where, "the side")
        if value is None:
            return None
        if value not in SIDES:
            self.problem(
                _line(node), where, f"{_excerpt(value)} is not a side: write right or left"
            )
            return None
        return value

    def breath_cue(
        self, fields: dict[str, yaml.Node], where: str, line: int, in_sides: bool, *, required: bool
    ) -> BreathCue | None:
        texts = {}
        for phase in BREATH_KEYS:
            node = fields.get(phase)
            if node is None:
                if required:
                    self.problem(
                        line, where, f"{phase} is missing: say what to say as the {phase} begins"
                    )
                continue
            value = self.scalar(node, f"{where}, {phase}", "the cue")
            text = self.spoken(value, node, f"{where}, {phase}", in_sides=in_sides)
            if text:
                texts[phase] = text
        if len(texts) != 2:
            return None
        return BreathCue(inhale=texts["inhale"], exhale=texts["exhale"])

    def _bell(
        self, fields: dict[str, yaml.Node], where: str, line: int, in_sides: bool
    ) -> Step | None:
        sound = self.scalar(fields["bell"], where, "the bell")
        if sound is None:
            return None
        if sound not in BELL_SOUNDS:
            self.problem(
                _line(fields["bell"]),
                where,
                f"unknown bell {_excerpt(sound)}: use one of "
                f"{', '.join(BELL_SOUNDS)}" + _did_you_mean(sound, BELL_SOUNDS),
            )
            return None
        return Bell(sound=sound, line=line)

    def _sides(
        self, fields: dict[str, yaml.Node], where: str, line: int, in_sides: bool
    ) -> Step | None:
        if in_sides:
            self.problem(line, where, "a sides block cannot hold another sides block")
            return None
        first: Side = "right"
        if "first" in fields:
            first = self.side(fields["first"], where + ", first") or "right"
        rest = None
        if "rest" in fields:
            rest = self.span(fields["rest"], where + ", rest", allow_breaths=True)
            if rest and self.span_ms(rest) > MAX_REST_BETWEEN_SIDES_MS:
                self.problem(
                    _line(fields["rest"]),
                    where + ", rest",
                    f"a rest between sides lasts at most {MAX_REST_BETWEEN_SIDES_MS // 1000}s: "
                    "for longer, end the sides block and add a hold",
                )
                rest = None
        steps = self.steps(fields["sides"], where, in_sides=True, nested=True)
        return Sides(steps=steps, first=first, line=line, rest=rest) if steps else None


def _same_stay(one: Step, other: Step) -> bool:
    """Two holds as long as each other, give or take the bell between them."""
    if not isinstance(one, Hold) or not isinstance(other, Hold):
        return False
    if one.span.breaths or other.span.breaths:
        return one.span == other.span
    return abs(one.span.ms - other.span.ms) <= BELL_ALLOWANCE_MS


def _is_pose(node: yaml.Node) -> bool:
    return isinstance(node, yaml.MappingNode) and any(
        isinstance(key, yaml.ScalarNode) and key.value == "pose" for key, _ in node.value
    )


def _line_nested_too_deep(text: str) -> int | None:
    """The line where the script first nests deeper than MAX_DEPTH, read token by token
    with PyYAML's pure-Python scanner (which has no depth limit of its own), or None."""
    depth = 0
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(token, _OPENING_TOKENS):
                depth += 1
                if depth > MAX_DEPTH:
                    return int(token.start_mark.line) + 1
            elif isinstance(token, _CLOSING_TOKENS):
                depth -= 1
    except yaml.YAMLError:
        return None
    return None


_OPENING_TOKENS = (
    yaml.BlockMappingStartToken,
    yaml.BlockSequenceStartToken,
    yaml.FlowMappingStartToken,
    yaml.FlowSequenceStartToken,
)
_CLOSING_TOKENS = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loader; C speed where libyaml is installed."""


def _is_plain_tag(tag: str) -> bool:
    # `!` alone is YAML's "non-specific" tag that quoting produces; it is not a type.
    return tag == "!"


def _line(node: yaml.Node | None) -> int:
    return node.start_mark.line + 1 if node is not None else 0


def _join(where: str, key: str) -> str:
    return f"{where}, {key}" if where else key


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return f"the text {_excerpt(node.value)}" if node.value else "nothing"


def _excerpt(value: str) -> str:
    """A value quoted back in a problem line: its start only, control characters escaped."""
    return repr(_shortened(value, MAX_QUOTED_CHARS))


def _shortened(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _did_you_mean(word: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _unknown_key(key: str, allowed: tuple[str, ...]) -> str:
    return (
        f"unknown key {quoted_key(key)}{_did_you_mean(key, allowed)}: "
        f"the keys here are {', '.join(allowed)}"
    )
