"""The private podcast for real: `practice publish` renders into a folder and a real feed
parser reads it; `practice serve` runs as its own process on the loopback interface and a
real HTTP client fetches from it as a podcast app does (the feed, whole enclosures, byte
ranges, chapters); Ctrl-C, SIGTERM and an interrupted publish leave everything as it was."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import feedparser
import pytest

from .conftest import MINIMAL
from .test_faults import finish, leftovers, long_script, practice, wait_for

pytestmark = pytest.mark.slow


def publish(folder: Path, *args: str, cache: Path) -> tuple[int, str, str]:
    return finish(practice("publish", str(folder), *args, cache=cache, cwd=folder.parent))


def local_file(folder: Path, url: str) -> Path:
    """The file in the published folder that a URL of the feed names."""
    return folder / url.rsplit("/", 1)[1]


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory, shared_cache_dir: Path) -> Path:
    """`practice publish DIR healthy-spine upper-back`, once for the module: tests that
    change the folder work on a copy (shutil.copytree keeps the modification times)."""
    folder = tmp_path_factory.mktemp("published") / "podcast"
    code, _, err = publish(folder, "healthy-spine", "upper-back", cache=shared_cache_dir)
    assert code == 0, err
    assert "2 added" in err
    return folder


def copy_of(folder: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "podcast"
    shutil.copytree(folder, copy)
    return copy


def test_two_sessions_make_a_feed_a_real_parser_reads_with_every_file_valid(published):
    parsed = feedparser.parse((published / "feed.xml").read_bytes())
    assert not parsed.bozo, parsed.bozo_exception
    assert parsed.feed.itunes_block == 1
    assert len(parsed.entries) == 2
    assert [entry.title for entry in parsed.entries] == ["Healthy Spine", "Upper Back"]
    for entry in parsed.entries:
        (enclosure,) = entry.enclosures
        audio = local_file(published, enclosure.href)
        assert int(enclosure.length) == audio.stat().st_size > 1_000_000
        assert enclosure.type == "audio/mpeg" and audio.read_bytes()[:3] == b"ID3"
        chapters = json.loads(local_file(published, entry.podcast_chapters["url"]).read_text())
        assert chapters["version"] == "1.2.0" and len(chapters["chapters"]) >= 3
        starts = [chapter["startTime"] for chapter in chapters["chapters"]]
        assert starts[0] == 0 and starts == sorted(starts)
        assert abs(chapters["chapters"][-1]["endTime"] - int(entry.itunes_duration)) <= 1
        transcript = local_file(published, entry.podcast_transcript["url"]).read_text()
        assert transcript.startswith("WEBVTT\n\n1\n00:00:")
        assert re.search(r"^\d\d:\d\d:\d\d\.\d{3} --> \d\d:\d\d:\d\d\.\d{3}$", transcript, re.M)
        assert "Cautions" in entry.summary or "You will need" in entry.summary
    assert leftovers(published) == []


def test_a_third_session_keeps_the_first_two_guids_and_files_untouched(
    published, tmp_path, shared_cache_dir
):
    folder = copy_of(published, tmp_path)
    before = feedparser.parse((folder / "feed.xml").read_bytes())
    stamps = {path.name: path.stat().st_mtime_ns for path in folder.iterdir()}
    (tmp_path / "tiny.yaml").write_text(MINIMAL)
    code, _, err = publish(folder, str(tmp_path / "tiny.yaml"), "healthy-spine",
                           cache=shared_cache_dir)  # fmt: skip
    assert code == 0, err
    assert "1 added, 1 unchanged" in err and "Rendered Tiny practice" in err
    assert "Rendered Healthy Spine" not in err
    after = feedparser.parse((folder / "feed.xml").read_bytes())
    assert len(after.entries) == 3 and after.entries[0].title == "Tiny practice"
    assert {entry.id for entry in before.entries} <= {entry.id for entry in after.entries}
    for name, stamp in stamps.items():
        if name != "feed.xml":
            assert (folder / name).stat().st_mtime_ns == stamp, name


def test_other_options_give_the_session_new_audio_a_new_guid_and_take_the_old_files(
    published, tmp_path, shared_cache_dir
):
    folder = copy_of(published, tmp_path)
    before = {entry.title: entry for entry in feedparser.parse(folder / "feed.xml").entries}
    code, _, err = publish(folder, "healthy-spine", "--pace", "fast", cache=shared_cache_dir)
    assert code == 0, err
    assert "1 updated" in err
    after = {entry.title: entry for entry in feedparser.parse(folder / "feed.xml").entries}
    assert set(after) == {"Healthy Spine (pace 1.25)", "Upper Back"}
    assert after["Upper Back"].id == before["Upper Back"].id
    assert after["Healthy Spine (pace 1.25)"].id != before["Healthy Spine"].id
    old = before["Healthy Spine"]
    new = after["Healthy Spine (pace 1.25)"]
    assert not local_file(folder, old.enclosures[0].href).exists()
    assert not local_file(folder, old.podcast_chapters["url"]).exists()
    assert local_file(folder, new.enclosures[0].href).stat().st_size == int(
        new.enclosures[0].length
    )
    assert int(new.itunes_duration) < int(old.itunes_duration)
    # the same options again: nothing rendered, the same guid
    code, _, err = publish(folder, "healthy-spine", "--pace", "fast", cache=shared_cache_dir)
    assert code == 0 and "1 unchanged" in err and "Rendered" not in err
    again = feedparser.parse(folder / "feed.xml").entries
    assert {entry.id for entry in again} == {entry.id for entry in after.values()}


# -- an interrupted publish --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signum", "code", "said"),
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "stopped by SIGTERM")],
    ids=["SIGINT", "SIGTERM"],
)
def test_an_interrupted_publish_leaves_the_previous_feed_and_no_temporary_file(
    tmp_path, shared_cache_dir, signum, code, said
):
    folder = tmp_path / "podcast"
    (tmp_path / "tiny.yaml").write_text(MINIMAL)
    assert publish(folder, str(tmp_path / "tiny.yaml"), cache=shared_cache_dir)[0] == 0
    script = long_script(tmp_path)
    finish(practice("show", str(script), cache=shared_cache_dir, cwd=tmp_path))  # warm
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    process = practice("publish", str(folder), str(script), "--title", "Changed",
                       cache=shared_cache_dir, cwd=tmp_path)  # fmt: skip
    wait_for(lambda: any(folder.glob(".long-*.part")), what="encoding to start")
    process.send_signal(signum)
    returned, _, err = finish(process)
    assert returned == code and said in err
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before
    # and the next publish goes through
    assert publish(folder, str(script), cache=shared_cache_dir)[0] == 0
    assert len(feedparser.parse(folder / "feed.xml").entries) == 2


# -- serve ------------------------------------------------------------------------------------


def serve(folder: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    """`practice serve FOLDER` on the loopback interface, on a free port, and the feed's
    address it prints."""
    process = subprocess.Popen(
        [sys.executable, "-m", "player", "serve", str(folder), "--host", "127.0.0.1",
         "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/[A-Za-z0-9_-]{22}/feed\.xml", url), url
    return process, url


@pytest.fixture(scope="module")
def served(published: Path) -> Iterator[str]:
    process, url = serve(published)
    yield url
    process.send_signal(signal.SIGINT)
    finish(process, timeout=30)


def fetch(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as refused:
        return refused.code, dict(refused.headers), refused.read()


def test_the_printed_address_returns_the_feed(served, published):
    status, headers, body = fetch(served)
    assert status == 200 and headers["Content-Type"].startswith("application/rss+xml")
    parsed = feedparser.parse(body)
    assert not parsed.bozo and len(parsed.entries) == 2
    assert parsed.feed.itunes_block == 1


def test_a_range_of_an_mp3_is_206_and_exactly_those_bytes(served, published):
    audio = next(published.glob("healthy-spine-*.mp3"))
    status, headers, body = fetch(served.replace("feed.xml", audio.name), Range="bytes=100-299")
    assert status == 206
    assert body == audio.read_bytes()[100:300] and len(body) == 200
    assert headers["Content-Range"] == f"bytes 100-299/{audio.stat().st_size}"
    assert headers["Content-Type"] == "audio/mpeg"


def test_a_podcast_client_downloads_every_enclosure_and_loads_its_chapters(served, published):
    parsed = feedparser.parse(fetch(served)[2])
    for entry in parsed.entries:
        (enclosure,) = entry.enclosures
        assert enclosure.href.startswith(served.rsplit("/", 1)[0])  # where it was asked
        status, headers, audio = fetch(enclosure.href)
        assert status == 200 and len(audio) == int(enclosure.length)
        assert audio == local_file(published, enclosure.href).read_bytes()
        # resuming a download: the rest from where it stopped
        status, _, rest = fetch(enclosure.href, Range=f"bytes={len(audio) - 5000}-")
        assert status == 206 and rest == audio[-5000:]
        status, headers, chapters = fetch(entry.podcast_chapters["url"])
        assert status == 200 and headers["Content-Type"] == "application/json"
        assert [c["title"] for c in json.loads(chapters)["chapters"]]
        status, headers, transcript = fetch(entry.podcast_transcript["url"])
        assert status == 200 and headers["Content-Type"].startswith("text/vtt")
        assert transcript.startswith(b"WEBVTT")


def test_nothing_outside_the_folder_or_without_the_token_is_served(served, published):
    root = served.rsplit("/", 2)[0]  # http://127.0.0.1:PORT
    token = served.rsplit("/", 2)[1]
    audio = next(published.glob("upper-back-*.mp3")).name
    for path in (
        f"/{audio}",
        "/feed.xml",
        f"/{'x' * 22}/feed.xml",
        f"/{token}/../{published.name}/feed.xml",
        f"/{token}/%2e%2e/%2e%2e/etc/passwd",
        f"/{token}/..%2f..%2fetc%2fpasswd",
        f"/{token}/.feed.xml.abcd.part",
    ):
        status, _, body = fetch(root + path)
        assert status in (403, 404), path
        assert token.encode() not in body


@pytest.mark.parametrize(
    ("signum", "code", "said"),
    [(signal.SIGINT, 130, "practice: interrupted"), (signal.SIGTERM, 143, "stopped by SIGTERM")],
    ids=["Ctrl-C", "SIGTERM"],
)
def test_ctrl_c_stops_the_server_cleanly(published, signum, code, said):
    process, url = serve(published)
    assert fetch(url)[0] == 200
    # a phone in the middle of a download, reading nothing more: it does not hold the stop
    host, port, token = re.fullmatch(r"http://(.+):(\d+)/(.+)/feed\.xml", url).groups()
    audio = next(published.glob("*.mp3")).name
    stalled = socket.create_connection((host, int(port)), timeout=10)
    stalled.sendall(f"GET /{token}/{audio} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    assert stalled.recv(15) == b"HTTP/1.1 200 OK"
    started = time.monotonic()
    process.send_signal(signum)
    returned, _, err = finish(process, timeout=30)
    assert time.monotonic() - started < 5
    stalled.close()
    assert returned == code
    assert said in err and "Traceback" not in err
    assert "paste the address" in err
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=5)


def test_a_port_in_use_and_a_folder_not_published_are_one_sentence(published, tmp_path):
    first, url = serve(published)
    try:
        port = url.split(":")[2].split("/")[0]
        taken = subprocess.run(
            [sys.executable, "-m", "player", "serve", str(published), "--host", "127.0.0.1",
             "--port", port],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert taken.returncode == 74 and taken.stdout == ""
        assert taken.stderr == (
            f"practice: port {port} is already in use (127.0.0.1:{port}): stop what uses it, "
            "or pick another port with --port\n"
        )
    finally:
        first.send_signal(signal.SIGINT)
        finish(first, timeout=30)
    empty = subprocess.run(
        [sys.executable, "-m", "player", "serve", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert empty.returncode == 1 and "is not a published folder" in empty.stderr
    assert empty.stderr.count("\n") == 1
    assert os.listdir(tmp_path) == []
