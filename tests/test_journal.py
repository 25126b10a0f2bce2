"""The practice journal in this process (the fast tier): its schema and migration, entries
and ratings, the history's sums and streak, what a composer reads, a journal that cannot be
used, the minutes heard, the config file written by calibrate, and the tapped breath."""

from __future__ import annotations

import io
import json
import os
import re
import sqlite3
import termios
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from player.config import load_preferences, set_preference
from player.errors import BreathRefused, ConfigProblem, JournalProblem, UsageProblem
from player.journal import history, steer
from player.journal.store import VERSION, Entry, Journal, journal_file, record
from player.live.calibrate import Breath, breaths_from_taps, calibrated, tap
from player.live.feedback import QUESTION, read_rating
from player.live.heard import HeardOutput

NOW = datetime(2026, 12, 6, 18, 0, tzinfo=UTC)  # a Sunday


def played(
    days_ago: float = 0,
    heard_min: float = 10,
    finished: bool = True,
    poses: tuple[str, ...] = ("Cat and cow", "Cobra"),
    command: str = "play",
    rating: str | None = None,
    skip: str | None = None,
) -> Entry:
    ended = NOW - timedelta(days=days_ago)
    return Entry(
        command=command,
        session="healthy-spine",
        title="Healthy Spine",
        started_at=ended - timedelta(minutes=heard_min),
        ended_at=ended,
        duration_ms=15 * 60_000,
        finished=finished,
        heard_ms=round(heard_min * 60_000) if command == "play" else None,
        options={"pace": 1.0},
        poses=poses,
        rating=rating,  # type: ignore[arg-type]
        skip_pose=skip,
    )


# -- the file and its schema ----------------------------------------------------------------------

# The schema of version 1, frozen as that version made it (store.MIGRATIONS[0] must never
# change): a journal written then must open now with its entries whole.
V1_SCHEMA = """CREATE TABLE entry (
    id INTEGER PRIMARY KEY, command TEXT NOT NULL, started_at TEXT NOT NULL,
    ended_at TEXT NOT NULL, session TEXT NOT NULL, script_sha256 TEXT,
    options TEXT NOT NULL DEFAULT '{}', duration_ms INTEGER NOT NULL, heard_ms INTEGER,
    finished INTEGER NOT NULL);
PRAGMA user_version = 1;"""


def test_a_version_1_journal_is_migrated_with_its_entries_kept(tmp_path):
    path = tmp_path / "journal.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(V1_SCHEMA)
    old.execute(
        "INSERT INTO entry (command, started_at, ended_at, session, options, duration_ms, "
        "heard_ms, finished) VALUES ('play', '2026-12-05T08:00:00+01:00', "
        "'2026-12-05T08:20:00+01:00', 'healthy-spine', '{\"pace\": 0.8}', 1200000, 1100000, 1)"
    )
    old.commit()
    old.close()
    with Journal(path) as journal:
        assert journal.version() == VERSION == 2
        [entry] = journal.entries()
    assert (entry.command, entry.session, entry.heard_ms, entry.finished) == (
        "play",
        "healthy-spine",
        1_100_000,
        True,
    )
    assert entry.options == {"pace": 0.8} and entry.poses == () and entry.rating is None
    assert entry.ended_at == datetime(2026, 12, 5, 8, 20, tzinfo=timezone(timedelta(hours=1)))
    columns = {row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(entry)")}
    assert {"title", "resumed", "seed", "poses", "rating", "skip_pose"} <= columns


def test_a_new_journal_is_made_at_the_current_version_in_the_state_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("PRACTICE_STATE_DIR", str(tmp_path / "state"))
    assert journal_file() == tmp_path / "state" / "journal.sqlite3"
    entry_id = record(played())
    assert entry_id == 1
    with Journal() as journal:
        assert journal.version() == VERSION
        [entry] = journal.entries()
    assert entry == Entry(**{**played().__dict__, "id": 1})  # every field comes back whole


def test_a_journal_from_a_newer_player_is_not_touched(tmp_path):
    path = tmp_path / "journal.sqlite3"
    sqlite3.connect(path).execute(f"PRAGMA user_version = {VERSION + 1}")
    with pytest.raises(JournalProblem, match=r"newer version of the player.*update the player"):
        Journal(path).__enter__()


def test_a_damaged_journal_warns_once_and_is_left_as_it_was(tmp_path, caplog):
    path = tmp_path / "journal.sqlite3"
    path.write_bytes(b"not a database, whatever it once was" * 100)
    assert record(played(), path) is None
    [warning] = caplog.records
    assert warning.levelname == "WARNING"
    assert warning.getMessage() == (
        f"the practice journal {path} is damaged (file is not a database): move that file "
        "away to start a new journal; this play is not in your history"
    )
    assert path.read_bytes().startswith(b"not a database")


def test_a_locked_journal_warns_after_a_short_wait(tmp_path, caplog):
    path = tmp_path / "journal.sqlite3"
    record(played(), path)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another program writing, and not letting go
    try:
        with pytest.raises(JournalProblem) as locked, Journal(path, timeout_s=0.1) as journal:
            journal.add(played())
    finally:
        other.execute("ROLLBACK")
    assert "is locked by another program (database is locked)" in locked.value.message


# -- the history ----------------------------------------------------------------------------------


def journal_with(tmp_path: Path, *entries: Entry) -> Journal:
    path = tmp_path / "journal.sqlite3"
    for entry in entries:
        assert record(entry, path)
    return Journal(path)


def test_the_streak_counts_today_and_holds_until_today_is_over():
    today = date(2026, 12, 6)
    days = [today, today - timedelta(days=1), today - timedelta(days=2), date(2026, 11, 30)]
    assert history.streak(days, today) == 3
    assert history.streak(days[1:], today) == 2  # not yet today: yesterday's streak holds
    assert history.streak(days[2:], today) == 0  # yesterday missed: broken
    assert history.streak([], today) == 0


def test_the_summary_sums_the_minutes_heard_this_week_and_month(tmp_path):
    with journal_with(
        tmp_path,
        played(0, 10),  # Sunday 6 December
        played(0.2, 5.5, finished=False),  # the same day, stopped
        played(1, 20),  # Saturday
        played(6, 30),  # Monday 30 November: this week, last month
        played(7, 40),  # Sunday 29 November: neither
        played(3, 0, finished=False),  # nothing heard: no practice day
        played(2, command="render"),  # written, not heard
    ) as journal:
        found = history.summary(journal, NOW.date(), last=3)
    assert found.streak_days == 2  # Sunday and Saturday (Friday's render does not count)
    assert found.week_ms == round((10 + 5.5 + 20 + 30) * 60_000)
    assert found.month_ms == round((10 + 5.5 + 20) * 60_000)
    assert [entry.heard_ms for entry in found.entries] == [600_000, 330_000, 1_200_000]
    shape = history.to_json(found, "journal.sqlite3")
    assert json.loads(json.dumps(shape)) == shape
    assert shape["streak_days"] == 2 and shape["week_ms"] == 3_930_000
    assert shape["entries"][1] == {
        "id": 2,
        "command": "play",
        "session": "healthy-spine",
        "title": "Healthy Spine",
        "script_sha256": None,
        "started_at": "2026-12-06T13:06:30+00:00",
        "ended_at": "2026-12-06T13:12:00+00:00",
        "duration_ms": 900_000,
        "heard_ms": 330_000,
        "finished": False,
        "resumed": False,
        "seed": None,
        "options": {"pace": 1.0},
        "poses": ["Cat and cow", "Cobra"],
        "rating": None,
        "skip_pose": None,
    }


def test_rating_the_last_practice_with_a_pose_to_skip(tmp_path):
    with journal_with(tmp_path, played(1), played(0), played(0, command="render")) as journal:
        said = history.rate_last(journal, "too-hard", "cobra")
        [last_play] = journal.entries(last=1, commands=("play",))
        assert (last_play.rating, last_play.skip_pose) == ("too-hard", "Cobra")
        assert said.startswith("Rated Healthy Spine (") and said.endswith(
            "): too hard; Cobra is left out of composed sessions for 30 days."
        )
        with pytest.raises(UsageProblem, match="not a pose of your last practice"):
            history.rate_last(journal, "right", "Headstand")


# -- what a composer reads --------------------------------------------------------------------


def test_the_steering_a_composer_reads(tmp_path):
    with journal_with(
        tmp_path,
        played(40, poses=("Bridge",), skip="Bridge", rating="too-hard"),  # skip long ago
        played(5, poses=("Locust", "Cobra"), rating="too-easy"),
        played(3, poses=("Cat and cow",), skip="Locust", rating="too-easy"),
        played(2, poses=("Twist",), command="render"),  # written, not practised
        played(1, heard_min=0, poses=("Sphinx",)),  # nothing heard
        played(0.5, poses=("Child's pose", "Cat and cow"), rating="right"),
    ) as journal:
        assert steer.recent_poses(journal) == ("Child's pose", "Cat and cow", "Locust", "Cobra")
        assert steer.skipped_poses(journal, NOW) == frozenset({"locust"})
        assert steer.difficulty_trend(journal) == 2  # right, too easy, too easy
        steering = steer.steering(journal, NOW)
    assert steering.hold_factor == 1.1 and steering.skips("LOCUST")
    assert not steering.skips("Bridge")  # skipped 40 days ago: back again
    assert steer.read_steering(tmp_path / "journal.sqlite3", NOW) == steering


def test_a_composer_without_a_usable_journal_gets_the_neutral_steering(tmp_path, caplog):
    path = tmp_path / "journal.sqlite3"
    path.write_text("garbage" * 200)
    assert steer.read_steering(path) == steer.NEUTRAL
    assert steer.NEUTRAL.hold_factor == 1.0
    assert "composing without your history" in caplog.text


# -- minutes heard ------------------------------------------------------------------------------


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


class Device:
    def play(self, pcm: bytes) -> Device:
        return self

    def stop(self) -> None:
        pass

    def is_playing(self) -> bool:
        return False


def test_heard_time_counts_the_session_as_it_sounds_and_stops():
    clock, prelude = Clock(), [True]
    heard = HeardOutput(Device(), lambda: not prelude[0], clock)
    second = 22_050 * 2
    heard.play(bytes(3 * second))  # the settling-in: not counted
    clock.now += 3
    prelude[0] = False
    heard.play(bytes(3 * second))
    clock.now += 1
    assert heard.heard_ms == 1000  # so far
    clock.now += 2
    piece = heard.play(bytes(3 * second))
    clock.now += 1.5
    piece.stop()  # paused half-way
    clock.now += 60  # paused a minute
    heard.play(bytes(2 * second))
    clock.now += 1  # a skip ends it a second in, and the next piece overlaps nothing
    assert heard.heard_ms == 3000 + 1500 + 1000


# -- the config file calibrate writes ------------------------------------------------------------


def test_set_preference_changes_one_line_and_keeps_the_rest(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        '# my settings\npace = "slow"   # evenings\nbreath = "4:7"  # was\ncues = "brief"\n'
    )
    set_preference("breath", "4.1:6.3", path)
    assert path.read_text() == (
        '# my settings\npace = "slow"   # evenings\nbreath = "4.1:6.3"  # was\ncues = "brief"\n'
    )
    assert load_preferences(path).values["breath"] == "4.1:6.3"


def test_set_preference_adds_the_key_or_makes_the_file(tmp_path):
    path = tmp_path / "new" / "config.toml"
    set_preference("breath", "4.0:6.0", path)
    assert path.read_text() == 'breath = "4.0:6.0"\n'
    bom = tmp_path / "windows.toml"
    bom.write_bytes('\ufeff# from Notepad\r\npace = "slow"'.encode())
    set_preference("breath", "4.0:6.0", bom)
    assert (
        bom.read_bytes().decode()
        == '\ufeff# from Notepad\r\npace = "slow"\r\nbreath = "4.0:6.0"\r\n'
    )


def test_set_preference_refuses_a_key_it_cannot_edit_safely(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('breath = """4:7"""\n')
    with pytest.raises(ConfigProblem, match=re.escape('set it by hand to breath = "4.0:6.0"')):
        set_preference("breath", "4.0:6.0", path)
    assert path.read_text() == 'breath = """4:7"""\n'


# -- the tapped breath --------------------------------------------------------------------------


def test_taps_become_breaths_and_the_median_of_the_last_in_tenths():
    taps = [0.0, 4.0, 10.0, 14.1, 20.0, 23.9, 30.05, 34.0]  # the last exhale never ends
    breaths = breaths_from_taps(taps)
    assert breaths == [Breath(4000, 6000), Breath(4100, 5900), Breath(3900, 6150)]
    assert calibrated(breaths).value == "4.0:6.0"
    long = [Breath(9000, 9000), *[Breath(3000 + 10 * n, 5000) for n in range(5)]]
    assert calibrated(long).value == "3.0:5.0"  # the first breath is not among the last five


def test_too_few_breaths_or_unsafe_ones_are_refused():
    with pytest.raises(BreathRefused, match="2 breaths tapped, and it takes at least 3"):
        calibrated([Breath(4000, 6000)] * 2)
    with pytest.raises(BreathRefused, match=r"an inhale of 1\.0 s is outside the safe limits"):
        calibrated(breaths_from_taps([float(n) for n in range(8)]))
    with pytest.raises(BreathRefused, match=r"an exhale of 15\.1 s"):
        calibrated([Breath(4000, 15_100)] * 3)
    assert calibrated([Breath(1500, 15_000)] * 3).value == "1.5:15.0"


def test_tapping_reads_keys_until_enter_and_says_each_breath():
    keys = iter([b" ", b"x", b" ", b" ", b" ", b" ", b"\n", b" "])
    times = iter([0.0, 1.0, 4.0, 10.0, 14.0, 20.0, 21.0])
    said: list[str] = []
    taps = tap(lambda: next(keys), said.append, lambda: next(times))
    assert taps == [0.0, 4.0, 10.0, 14.0, 20.0]
    assert said[2:] == [
        "  in",
        "  out",
        "breath 1: in 4.0 s, out 6.0 s",
        "  in",
        "  out",
        "breath 2: in 4.0 s, out 6.0 s",
        "  in",
    ]


# -- the commands, in this process ------------------------------------------------------------


def test_history_of_an_empty_journal(run_in_process):
    result = run_in_process("history")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "Streak: 0 days · this week: 0 min · this month: 0 min",
        "Nothing in your journal yet: each `practice play` and `render` is kept here.",
    ]
    shown = json.loads(run_in_process("history", "--json").stdout)
    assert (shown["entries"], shown["streak_days"], shown["week_ms"]) == ([], 0, 0)
    assert shown["journal"].endswith("journal.sqlite3") and shown["format"] == 1


def test_history_rates_the_last_play_and_says_so(run_in_process):
    record(played(1, poses=("Arriving", "Cat and cow")))
    record(played(0, poses=("Cobra",), command="render"))
    result = run_in_process("history", "--rate", "TOO-EASY", "--skip", "cat AND cow", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.endswith(
        "): too easy; Cat and cow is left out of composed sessions for 30 days.\n"
    )
    render, play = json.loads(result.stdout)["entries"]
    assert (play["rating"], play["skip_pose"], render["rating"]) == (
        "too-easy",
        "Cat and cow",
        None,
    )
    again = run_in_process("history", "--rate", "right")
    assert again.exit_code == 0 and "[right]" in again.stdout


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (("--rate", "right"), 1, "practice: there is no practice to rate yet: play one with "),
        (("--skip", "Cobra"), 2, "Error: --skip goes with --rate: practice history --rate "),
        (("--rate", "hard"), 2, "Error: Invalid value for '--rate': 'hard' is not one of "),
    ],
)
def test_history_refuses_in_one_sentence(run_in_process, args, code, said):
    result = run_in_process("history", *args)
    assert result.exit_code == code and said in result.stderr


def test_rating_a_pose_the_session_did_not_have_is_refused(run_in_process):
    record(played(poses=("Cobra",)))
    result = run_in_process("history", "--rate", "right", "--skip", "Headstand")
    assert result.exit_code == 2
    assert result.stderr == (
        "practice: --skip 'Headstand' is not a pose of your last practice, Healthy Spine: "
        "give one of Cobra\n"
    )


def test_history_of_a_damaged_journal_is_an_error_with_the_fix(run_in_process):
    journal_file().parent.mkdir(parents=True)
    journal_file().write_text("a diary, not a database" * 100)
    result = run_in_process("history")
    assert result.exit_code == 1
    assert result.stderr == (
        f"practice: the practice journal {journal_file()} is damaged (file is not a database): "
        "move that file away to start a new journal\n"
    )


def test_calibrate_without_a_terminal_is_usage_exit_2(run_in_process, tmp_path):
    result = run_in_process("calibrate")
    assert result.exit_code == 2
    assert result.stderr.startswith("practice: practice calibrate reads your taps from a terminal")
    assert not (tmp_path / "no-preferences.toml").exists()


# -- the rating key, on a pseudo-terminal in this process ------------------------------------------


@pytest.mark.parametrize(
    ("typed", "rating", "said"),
    [
        (b"1", "too-easy", "Noted: too easy."),
        (b"2", "right", "Noted: right."),
        (b"3", "too-hard", "Noted: too hard."),
        (b"x", None, "No rating."),
        (b"", None, "No rating."),  # nothing pressed in time
    ],
)
def test_one_key_rates_the_session_and_the_terminal_is_given_back(typed, rating, said, monkeypatch):
    master, slave = os.openpty()
    before = termios.tcgetattr(slave)
    flush = termios.tcflush

    def flush_then_press(fd: int, queue: int) -> None:
        os.write(master, b"n")  # a key of the session, still unread: no answer
        flush(fd, queue)
        os.write(master, typed)  # pressed once the question is asked

    monkeypatch.setattr(termios, "tcflush", flush_then_press)
    try:
        with open(slave, closefd=False) as stdin, io.StringIO() as stdout:
            assert read_rating(stdin, stdout, wait_s=5 if typed else 0.05) == rating
            assert stdout.getvalue() == f"{QUESTION}\n{said}\n"
        assert termios.tcgetattr(slave) == before
    finally:
        os.close(master)
        os.close(slave)
