"""The private podcast, in this process (the fast tier): the feed read by a real feed parser,
the guid's hash, reading our own feed back, the server's application answering through
werkzeug's test client (ranges byte for byte, types, what it refuses), the folder's sweep,
a publish's all-or-nothing with a stand-in renderer, and the commands' one-sentence errors.
The real processes (publish, serve, Ctrl-C) are in tests/test_publish_real.py."""

from __future__ import annotations

import html
import os
import socket
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import feedparser
import pytest
from werkzeug.test import Client

from player.errors import NotPublished, PracticeError
from player.pipeline import Compiled
from player.publish import folder as published_folder
from player.publish import publish as publishing
from player.publish import server
from player.publish.feed import (
    ITUNES,
    PODCAST,
    Channel,
    FeedUnreadable,
    Item,
    check_base_url,
    feed_xml,
    folder_url,
    links_moved,
    read_feed,
)
from player.publish.folder import check_published, sweep
from player.request import Request, VoiceChoice
from player.session.script import Script, parse_script
from player.session.timeline import TimingOptions, build_timeline
from player.speech.cache import VoiceSettings

from .conftest import MINIMAL, fake_clip_ms

TOKEN = "tok3n-AAAAAAAAAAAAAAAAAA"
FOLDER_URL = folder_url("http://127.0.0.1:8765", TOKEN)  # as written without --base-url
WHEN = datetime(2026, 12, 1, 7, 30, tzinfo=UTC)


def item(slug: str = "healthy-spine", digest: str = "ab" * 32, **changes: object) -> Item:
    fields: dict[str, object] = {
        "slug": slug,
        "content_hash": digest,
        "title": "Healthy Spine",
        "description": "Spine mobility. You will need a yoga mat & a blanket <soft>.",
        "published": WHEN,
        "size": 7_065_464,
        "duration_s": 882,
    }
    fields.update(changes)
    return Item(**fields)  # type: ignore[arg-type]


ITEMS = [item(), item("upper-back", "cd" * 32, title="Upper Back", size=15_221_115)]


def test_the_feed_reads_in_a_real_feed_parser_with_every_field_a_podcast_app_uses():
    text = feed_xml(Channel("Mornings", FOLDER_URL), ITEMS, WHEN)
    parsed = feedparser.parse(text)
    assert not parsed.bozo, parsed.bozo_exception
    assert parsed.version == "rss20"
    assert parsed.feed.title == "Mornings"
    assert parsed.feed.itunes_block == 1 and parsed.feed.podcast_locked == "yes"
    assert len(parsed.entries) == 2
    for entry, expected in zip(parsed.entries, ITEMS, strict=True):
        assert entry.id == "practice-player-" + expected.content_hash
        assert entry.guidislink is False
        (enclosure,) = entry.enclosures
        assert enclosure.href == FOLDER_URL + expected.audio
        assert int(enclosure.length) == expected.size and enclosure.type == "audio/mpeg"
        assert entry.itunes_duration == str(expected.duration_s)
        assert entry.podcast_chapters == {
            "url": FOLDER_URL + expected.chapters,
            "type": "application/json+chapters",
        }
        assert entry.podcast_transcript["url"] == FOLDER_URL + expected.transcript
        assert entry.podcast_transcript["type"] == "text/vtt"
        # shown as HTML by podcast apps: the text, its & and < escaped, reads as typed
        assert html.unescape(entry.summary) == expected.description
        assert entry.published_parsed[:6] == (2026, 12, 1, 7, 30, 0)
    # the namespaces, as a podcast app that reads the XML itself finds them
    root = ET.fromstring(text)
    assert root.find(f"channel/{{{ITUNES}}}block").text == "Yes"
    assert root.find(f"channel/item/{{{PODCAST}}}chapters") is not None
    self_link = root.find("channel/{http://www.w3.org/2005/Atom}link")
    assert self_link.get("href") == FOLDER_URL + "feed.xml" and self_link.get("rel") == "self"


def test_the_newest_items_come_first_and_those_published_together_keep_their_order():
    later = WHEN.replace(hour=9)
    items = [item("a", "1" * 64), item("b", "2" * 64, published=later), item("c", "3" * 64)]
    entries = feedparser.parse(feed_xml(Channel("T", FOLDER_URL), items, WHEN)).entries
    assert [entry.enclosures[0].href.rsplit("/", 1)[1][0] for entry in entries] == list("bac")


def test_our_feed_reads_back_as_the_items_it_was_written_from():
    feed = read_feed(feed_xml(Channel("Mornings", FOLDER_URL), ITEMS, WHEN))
    assert feed.title == "Mornings"
    assert feed.items == ITEMS


@pytest.mark.parametrize(
    "text",
    [
        "not xml <",
        "<feed xmlns='http://www.w3.org/2005/Atom'/>",
        "<rss><channel><item><guid>x</guid></item></channel></rss>",
        # an enclosure named for another item's hash: its files are not this item's
        feed_xml(Channel("T", FOLDER_URL), [item()], WHEN).replace("healthy-spine-abab", "x-cdcd"),
    ],
)
def test_a_feed_this_program_did_not_write_is_refused_never_guessed(text):
    with pytest.raises(FeedUnreadable):
        read_feed(text)


def test_links_move_to_the_address_the_feed_was_asked_at():
    text = feed_xml(Channel("T", FOLDER_URL), ITEMS, WHEN)
    here = f"http://192.168.1.20:9000/{TOKEN}/"
    moved = links_moved(text, TOKEN, here)
    assert "127.0.0.1" not in moved
    assert moved.count(here) == text.count(FOLDER_URL) > 6
    assert read_feed(moved).items == ITEMS


@pytest.mark.parametrize(
    ("typed", "kept"),
    [("http://studio.local:8765/", "http://studio.local:8765"), ("https://x.org/pod", None)],
)
def test_a_base_url_is_an_http_address_alone(typed, kept):
    assert check_base_url(typed) == (kept or typed)


@pytest.mark.parametrize("typed", ["studio.local:8765", "ftp://x", "http://x/?a=1", 'http://x/"'])
def test_a_base_url_that_is_not_one_is_refused(typed):
    with pytest.raises(ValueError, match="address"):
        check_base_url(typed)


# -- the guid ----------------------------------------------------------------------------------

SCRIPT = parse_script(MINIMAL.encode(), "tiny.yaml", session_id="tiny")
VOICE = VoiceSettings("espeak-ng", "1.52", "en-us+klatt", 140)


def test_the_same_session_and_options_keep_their_hash_and_other_audio_gets_another():
    request = Request(session="tiny")
    first = publishing.content_hash(SCRIPT, request, VOICE)
    assert first == publishing.content_hash(SCRIPT, Request(session="tiny"), VOICE)
    # where the script was read from, and the voice model's place, change no sound
    moved = replace(SCRIPT, path="elsewhere/tiny.yaml")
    assert publishing.content_hash(moved, request, VOICE) == first
    elsewhere = replace(VOICE, model_path="/somewhere/else.onnx")
    assert publishing.content_hash(SCRIPT, request, elsewhere) == first
    others = [
        publishing.content_hash(SCRIPT, replace(request, timing=TimingOptions(pace=0.8)), VOICE),
        publishing.content_hash(
            SCRIPT, replace(request, timing=TimingOptions(avoid=frozenset({"twist"}))), VOICE
        ),
        publishing.content_hash(SCRIPT, replace(request, length_ms=600_000), VOICE),
        publishing.content_hash(SCRIPT, request, replace(VOICE, rate=170)),
        publishing.content_hash(SCRIPT, request, replace(VOICE, engine_version="1.53")),
        publishing.content_hash(replace(SCRIPT, title="Other"), request, VOICE),
    ]
    assert len({first, *others}) == len(others) + 1


@dataclass(frozen=True)
class WithBed(Request):
    """A request with an option added later, such as a sound bed from a file."""

    bed: Path | None = None


def test_an_option_added_later_is_in_the_hash_a_file_by_its_bytes(tmp_path):
    rain, same, waves = tmp_path / "rain.wav", tmp_path / "copy.wav", tmp_path / "waves.wav"
    rain.write_bytes(b"rain" * 100)
    same.write_bytes(b"rain" * 100)
    waves.write_bytes(b"waves" * 100)

    def digest(**fields: Any) -> str:
        return publishing.content_hash(SCRIPT, WithBed(session="tiny", **fields), VOICE)

    assert digest(bed=rain) == digest(bed=same) != digest(bed=waves) != digest()
    # what does not change the audio changes nothing
    assert digest(bed=rain, cache_dir=tmp_path, given=frozenset({"pace"})) == digest(bed=rain)


def test_options_are_said_in_an_items_title_only_when_not_the_defaults():
    assert publishing.options_said(Request()) == []
    asked = Request(
        timing=TimingOptions(pace=0.8, cues="brief", avoid=frozenset({"twist"})),
        voice=VoiceChoice(name="en-gb", rate=160),
        length_ms=1_200_000,
    )
    assert publishing.options_said(asked) == [
        "pace 0.8",
        "fitted to 20:00",
        "brief cues",
        "avoiding twist",
        "voice en-gb",
        "rate 160",
    ]


# -- the server's application ------------------------------------------------------------------


def write_feed(where: Path, items: list[Item], url: str = FOLDER_URL) -> None:
    (where / "feed.xml").write_text(feed_xml(Channel("Mornings", url), items, WHEN))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A published folder: a feed and one item's three files."""
    where = tmp_path / "pod"
    where.mkdir()
    audio = bytes(range(256)) * 40
    one = item(size=len(audio))
    (where / one.audio).write_bytes(audio)
    (where / one.chapters).write_text('{"version": "1.2.0", "chapters": []}\n')
    (where / one.transcript).write_text("WEBVTT\n")
    write_feed(where, [one])
    return where


class Buffered(Client):
    """A test client that reads each response whole and closes it, as a server does."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        return super().open(*args, buffered=True, **kwargs)


@pytest.fixture
def client(folder: Path) -> Client:
    return Buffered(server.FeedApp(folder, check_published(folder)))


def test_the_feed_is_served_with_its_links_at_the_address_it_was_asked_at(client, folder):
    response = client.get(f"/{TOKEN}/feed.xml", base_url="http://192.168.1.20:5555")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/rss+xml; charset=utf-8"
    parsed = feedparser.parse(response.data)
    (entry,) = parsed.entries
    assert entry.enclosures[0].href == f"http://192.168.1.20:5555/{TOKEN}/{item().audio}"
    assert entry.podcast_chapters["url"].startswith(f"http://192.168.1.20:5555/{TOKEN}/")
    assert parsed.feed.links[0].href == f"http://192.168.1.20:5555/{TOKEN}/feed.xml"
    # asked at the address the file names, it is the file itself
    same = client.get(f"/{TOKEN}/feed.xml", base_url="http://127.0.0.1:8765")
    assert same.data == (folder / "feed.xml").read_bytes()


def test_links_that_base_url_set_are_served_as_written(folder):
    # through a proxy that sends its own Host, say: the address given is the one that works
    write_feed(folder, [item()], folder_url("https://yoga.example.org", TOKEN))
    settings = check_published(folder)
    assert (settings.token, settings.base_url) == (TOKEN, "https://yoga.example.org")
    response = Buffered(server.FeedApp(folder, settings)).get(
        f"/{TOKEN}/feed.xml", base_url="http://127.0.0.1:8765"
    )
    assert response.status_code == 200
    assert response.data == (folder / "feed.xml").read_bytes()


def test_a_host_header_that_is_not_a_host_changes_nothing(client, folder):
    response = client.get(f"/{TOKEN}/feed.xml", headers={"Host": 'x"><script>'})
    assert response.status_code == 200
    assert b"<script>" not in response.data


def test_a_range_is_answered_206_with_exactly_those_bytes(client, folder):
    name = item().audio
    whole = (folder / name).read_bytes()
    response = client.get(f"/{TOKEN}/{name}", headers={"Range": "bytes=100-299"})
    assert response.status_code == 206
    assert response.data == whole[100:300] and len(response.data) == 200
    assert response.headers["Content-Range"] == f"bytes 100-299/{len(whole)}"
    assert response.headers["Content-Type"] == "audio/mpeg"
    tail = client.get(f"/{TOKEN}/{name}", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.data == whole[-10:]
    full = client.get(f"/{TOKEN}/{name}")
    assert full.status_code == 200 and full.data == whole
    assert full.headers["Accept-Ranges"] == "bytes"
    past = client.get(f"/{TOKEN}/{name}", headers={"Range": f"bytes={len(whole)}-"})
    assert past.status_code == 416
    head = client.head(f"/{TOKEN}/{name}")
    assert head.status_code == 200 and head.data == b""
    assert int(head.headers["Content-Length"]) == len(whole)
    again = client.get(f"/{TOKEN}/{name}", headers={"If-None-Match": full.headers["ETag"]})
    assert again.status_code == 304


def test_each_file_has_its_type(client):
    one = item()
    types = {
        one.chapters: "application/json",
        one.transcript: "text/vtt; charset=utf-8",
        one.audio: "audio/mpeg",
    }
    for name, expected in types.items():
        response = client.get(f"/{TOKEN}/{name}")
        assert response.status_code == 200 and response.headers["Content-Type"] == expected


def test_only_the_folders_own_files_are_served_and_only_under_the_token(client, folder, tmp_path):
    secret = tmp_path / "secret.mp3"
    secret.write_bytes(b"private")
    os.symlink(secret, folder / "out.mp3")  # a symlink out of the folder
    (folder / ".hidden.json").write_text('{"private": true}')
    os.symlink(folder / ".hidden.json", folder / "hidden.json")  # in, to a dot file
    os.symlink(folder / item().audio, folder / "alias.mp3")  # in, to a served file
    (folder / "sub").mkdir()
    (folder / "sub" / "x.mp3").write_bytes(b"x")
    (folder / "notes.txt").write_text("not a feed's file")
    os.mkfifo(folder / "pipe.mp3")
    refused = [
        "/feed.xml",
        f"/{TOKEN}",
        f"/{TOKEN}/",
        f"/{TOKEN[:-1]}/feed.xml",
        f"/wrong/{TOKEN}/feed.xml",
        f"/{TOKEN}/../pod/feed.xml",
        f"/{TOKEN}/%2e%2e/secret.mp3",
        f"/{TOKEN}/..%2fsecret.mp3",
        f"/{TOKEN}/.hidden.json",
        f"/{TOKEN}/out.mp3",
        f"/{TOKEN}/hidden.json",
        f"/{TOKEN}/sub/x.mp3",
        f"/{TOKEN}/notes.txt",
        f"/{TOKEN}/pipe.mp3",
        f"/{TOKEN}/missing.mp3",
    ]
    for path in refused:
        response = client.get(path)
        assert response.status_code == 404, path
        assert b"private" not in response.data and TOKEN.encode() not in response.data
    assert client.get(f"/{TOKEN}/alias.mp3").status_code == 200
    assert client.post(f"/{TOKEN}/feed.xml").status_code == 405


def test_the_qr_code_is_drawn_with_block_characters():
    drawn = server.qr_code(f"http://192.168.1.20:8765/{TOKEN}/feed.xml")
    lines = drawn.splitlines()
    assert len(lines) > 10 and {len(line) for line in lines} == {len(lines[0])}
    assert set("".join(lines)) <= {" ", "█", "▀", "▄", "\x1b", "[", "0", "m", ";", "3", "4", "7"}


# -- the folder --------------------------------------------------------------------------------


def test_the_sweep_takes_what_publishes_left_and_nothing_else(tmp_path):
    kept = item()
    names = [
        *kept.files,
        ".feed.xml.k2j3h4.part",  # a text file's temporary, from write_text_atomically
        ".healthy-spine-abababababab.123.render-xyz.mp3.part",  # the encoder's
        "upper-back-cdcdcdcdcdcd.mp3",  # a version no feed names
        "upper-back-cdcdcdcdcdcd.vtt",
        "my-notes.txt",
        ".my-own.part",
        "song.mp3",
    ]
    for name in names:
        (tmp_path / name).write_text("x")
    sweep(tmp_path, set(kept.files))
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [*kept.files, "my-notes.txt", ".my-own.part", "song.mp3"]
    )


@pytest.mark.parametrize(
    "feed",
    [
        "<rss><channel><title>Someone else's</title></channel></rss>",
        feed_xml(Channel("No token", "http://127.0.0.1:8765/short/"), [], WHEN),
        "\xff not text",
    ],
)
def test_a_feed_this_program_did_not_write_is_not_a_published_folder(tmp_path, feed):
    (tmp_path / "feed.xml").write_text(feed, encoding="latin-1")
    with pytest.raises(NotPublished, match=r"feed\.xml"):
        check_published(tmp_path)


# -- a publish, with a stand-in renderer --------------------------------------------------------


@dataclass
class StandIn:
    """Publishes in this process: every session is the tiny script, timed with fake clip
    lengths, and 'rendered' as a few bytes, its file name listed in `renders`. A session
    named `broken` fails while rendering."""

    renders: list[str] = field(default_factory=list)

    @staticmethod
    def load(session: str) -> Script:
        return replace(SCRIPT, id=session, title=session.title())

    def compile(self, request: Request, cache: object) -> Compiled:
        script = self.load(request.session or "")
        timeline = build_timeline(script, request.timing, fake_clip_ms)
        return Compiled(script, timeline, clips=None)  # type: ignore[arg-type]

    def render(self, compiled: Compiled, out: Path, **_: object) -> None:
        if compiled.script.id == "broken":
            raise PracticeError("ffmpeg could not encode the MP3")
        self.renders.append(out.name)
        out.write_bytes(b"ID3" + compiled.script.id.encode() * 100)

    def publish(self, where: Path, *sessions: str, **options: Any) -> publishing.Published:
        timing = options.pop("timing", TimingOptions())
        requests = [Request(session=name, timing=timing) for name in sessions]
        return publishing.publish(where, requests, self.compile, **options)


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> StandIn:
    made = StandIn()
    monkeypatch.setattr(publishing, "load_session", made.load)
    monkeypatch.setattr(publishing, "render", made.render)
    monkeypatch.setattr(publishing, "check_output_path", lambda out: None)
    monkeypatch.setattr(VoiceChoice, "settings", lambda self: VOICE)  # espeak is not asked
    return made


def test_publishing_again_renders_only_what_changed_and_leaves_the_rest_untouched(
    tmp_path, stand_in
):
    where = tmp_path / "pod"
    first = stand_in.publish(where, "one", "two", title="Mine")
    assert [i.slug for i in first.added] == ["one", "two"] and len(stand_in.renders) == 2
    stamps = {path.name: path.stat().st_mtime_ns for path in where.iterdir()}
    again = stand_in.publish(where, "two", "three")
    assert [i.slug for i in again.added] == ["three"] and [i.slug for i in again.unchanged] == [
        "two"
    ]
    assert len(stand_in.renders) == 3  # only three
    for name, stamp in stamps.items():
        if name != "feed.xml":
            assert (where / name).stat().st_mtime_ns == stamp, name
    feed = feedparser.parse((where / "feed.xml").read_bytes())
    assert feed.feed.title == "Mine"  # kept from the first publish
    assert {item.guid for item in first.items} <= {entry.id for entry in feed.entries}
    assert len(feed.entries) == 3
    # other options: the same item, new audio, a new guid; its old files go
    slower = stand_in.publish(where, "one", timing=TimingOptions(pace=0.8))
    (updated,) = slower.updated
    old = next(i for i in first.items if i.slug == "one")
    assert updated.guid != old.guid and updated.title == "One (pace 0.8)"
    assert not any((where / name).exists() for name in old.files)
    assert all((where / name).exists() for name in updated.files)
    assert len(feedparser.parse((where / "feed.xml").read_bytes()).entries) == 3


def test_a_failed_publish_leaves_the_folder_as_it_was(tmp_path, stand_in):
    where = tmp_path / "pod"
    stand_in.publish(where, "one")
    before = {path.name: path.read_bytes() for path in where.iterdir()}
    with pytest.raises(PracticeError, match="could not encode"):
        stand_in.publish(where, "two", "broken", title="New")
    assert {path.name: path.read_bytes() for path in where.iterdir()} == before


def test_a_damaged_item_is_rendered_again(tmp_path, stand_in):
    where = tmp_path / "pod"
    (one,) = stand_in.publish(where, "one").items
    (where / one.audio).write_bytes(b"cut short")
    again = stand_in.publish(where, "one")
    assert [i.guid for i in again.updated] == [one.guid] and len(stand_in.renders) == 2
    assert (where / one.audio).stat().st_size == one.size


def test_a_session_given_twice_is_refused(tmp_path, stand_in):
    with pytest.raises(PracticeError, match="both be published as 'one'"):
        stand_in.publish(tmp_path / "pod", "one", "one")


def test_a_second_publish_into_the_same_folder_at_once_is_refused(tmp_path):
    where = tmp_path / "pod"
    where.mkdir()
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        with published_folder.publishing(where):
            entered.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert entered.wait(10)
        with (
            pytest.raises(PracticeError, match="another publish is writing"),
            published_folder.publishing(where),
        ):
            pass
    finally:
        release.set()
        holder.join()


# -- the commands' errors, in this process ------------------------------------------------------


def test_serve_refuses_a_folder_that_is_not_published(run_in_process, tmp_path):
    result = run_in_process("serve", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr == (
        f"practice: {tmp_path} is not a published folder (no feed in it): publish into it "
        f"first: `practice publish {tmp_path} SESSION`\n"
    )
    missing = run_in_process("serve", str(tmp_path / "nowhere"))
    assert missing.exit_code == 1 and "is not a folder" in missing.stderr


def test_serve_without_a_network_address_says_so(run_in_process, folder, monkeypatch):
    monkeypatch.setattr(server, "network_address", lambda: None)
    result = run_in_process("serve", str(folder))
    assert result.exit_code == 69
    assert "has no network address a phone could reach" in result.stderr
    assert "--host 127.0.0.1" in result.stderr and result.stderr.count("\n") == 1


def test_serve_on_a_port_in_use_says_so(run_in_process, folder):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_in_process("serve", str(folder), "--host", "127.0.0.1", "--port", str(port))
    assert result.exit_code == 74
    assert result.stderr == (
        f"practice: port {port} is already in use (127.0.0.1:{port}): stop what uses it, or "
        "pick another port with --port\n"
    )


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (("publish", "pod"), 2, "give a SESSION to publish, or --all"),
        (("publish", "pod", "healthy-spine", "--all"), 2, "give no SESSION with it"),
        (("publish", "pod", "x", "--base-url", "ftp://x"), 2, "not an http:// or https://"),
        (("publish", "pod", "no-such-session"), 1, "no session named 'no-such-session'"),
        (("serve", "pod", "--host", "no.such.host.invalid"), 1, "pod is not a folder"),
    ],
)
def test_publish_and_serve_refuse_in_one_sentence(run_in_process, tmp_path, args, code, said):
    result = run_in_process(*args)
    assert result.exit_code == code, result.stderr
    assert said in result.stderr
    assert not (tmp_path / "pod").exists()  # nothing made for a refused publish


def test_publish_takes_the_options_render_does(run_in_process, monkeypatch):
    asked: list[list[Request]] = []

    def stop(where: Path, requests: list[Request], *args: object, **kwargs: object) -> None:
        asked.append(requests)
        raise PracticeError("stopped here")

    monkeypatch.setattr(publishing, "publish", stop)
    result = run_in_process(
        "publish", "pod", "healthy-spine", "upper-back", "--pace", "slow", "--cues", "brief",
        "--avoid", "twist", "--bells", "soft", "--voice", "en-gb", "--rate", "160",
    )  # fmt: skip
    assert result.exit_code == 1 and "stopped here" in result.stderr
    (requests,) = asked
    assert [request.session for request in requests] == ["healthy-spine", "upper-back"]
    timing = requests[0].timing
    assert (timing.pace, timing.cues, timing.bells) == (0.8, "brief", "soft")
    assert timing.avoid == frozenset({"twist"})
    assert (requests[0].voice.name, requests[0].voice.rate) == ("en-gb", 160)


def test_the_token_and_base_url_are_kept_in_the_feed_from_one_publish_to_the_next(
    tmp_path, stand_in
):
    where = tmp_path / "pod"
    first = stand_in.publish(where, "one", base_url="https://yoga.example.org")
    settings = check_published(where)
    assert first.feed_url == f"https://yoga.example.org/{settings.token}/feed.xml"
    assert len(settings.token) == 22
    again = stand_in.publish(where, "two", title="Evenings")
    assert again.feed_url == first.feed_url
    assert check_published(where) == replace(settings, title="Evenings")
    # without --base-url, the file names this computer: serve gives each phone its address
    local = stand_in.publish(tmp_path / "local", "one")
    assert local.feed_url.startswith("http://127.0.0.1:8765/")
    assert check_published(tmp_path / "local").base_url is None
    assert [path.name for path in where.iterdir() if path.name.startswith(".")] == []


@pytest.mark.parametrize(
    ("base", "found", "shown"),
    [
        (None, "192.168.1.20", "http://192.168.1.20:{port}/{token}/feed.xml"),
        ("https://yoga.example.org", None, "https://yoga.example.org/{token}/feed.xml"),
    ],
    ids=["this computer's address", "the address --base-url set"],
)
def test_serve_gives_the_address_a_phone_subscribes_to(folder, monkeypatch, base, found, shown):
    write_feed(folder, [item()], folder_url(base or "http://127.0.0.1:8765", TOKEN))
    monkeypatch.setattr(server, "network_address", lambda: found)
    serving = server.start(folder, "0.0.0.0", 0)
    try:
        port = serving.server.socket.getsockname()[1]
        assert serving.feed_url == shown.format(port=port, token=TOKEN)
        assert not serving.local_only
    finally:
        serving.server.close()
