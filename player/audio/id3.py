"""An ID3v2.3 tag with text frames, a comment, and chapters (CHAP plus a CTOC table).

We write the tag ourselves and put it in front of ffmpeg's MP3: giving ffmpeg the tags and
chapters as a second input costs about a quarter more encoding time (measured: 4.0 s
against 5.0 s of CPU for 41 minutes), since with two inputs it passes every small PCM
packet through a thread queue.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping

from player.session.timeline import Chapter

# ffmpeg reads these as title, artist, album, genre and date.
TEXT_FRAMES = {"title": "TIT2", "artist": "TPE1", "album": "TALB", "genre": "TCON", "date": "TYER"}
UTF16 = b"\x01"  # ID3v2.3's Unicode text encoding: UTF-16 with a byte-order mark
NO_OFFSET = 0xFFFFFFFF  # CHAP byte offsets unused: times are what players read
CTOC_TOP_LEVEL_ORDERED = 0x03


def id3_tag(text: Mapping[str, str], comment: str, chapters: Iterable[Chapter]) -> bytes:
    """The whole tag: `text` keys are those of TEXT_FRAMES."""
    chapters = list(chapters)
    frames = [_frame(TEXT_FRAMES[key], _text(value)) for key, value in text.items() if value]
    if comment:
        frames.append(_frame("COMM", UTF16 + b"eng" + _utf16("") + b"\x00\x00" + _utf16(comment)))
    if chapters:
        frames.append(_table_of_contents(len(chapters)))
        frames.extend(_chapter(number, chapter) for number, chapter in enumerate(chapters))
    body = b"".join(frames)
    return b"ID3\x03\x00\x00" + _syncsafe(len(body)) + body


def _chapter(number: int, chapter: Chapter) -> bytes:
    timing = struct.pack(">IIII", chapter.start_ms, chapter.end_ms, NO_OFFSET, NO_OFFSET)
    title = _frame("TIT2", _text(chapter.title))
    return _frame("CHAP", _element_id(number) + timing + title)


def _table_of_contents(count: int) -> bytes:
    """Some players show chapters only when a top-level table of contents lists them."""
    if count > 255:
        raise ValueError("an ID3 table of contents lists at most 255 chapters")
    children = b"".join(_element_id(number) for number in range(count))
    return _frame("CTOC", b"toc\x00" + bytes([CTOC_TOP_LEVEL_ORDERED, count]) + children)


def _element_id(number: int) -> bytes:
    return f"ch{number}".encode("ascii") + b"\x00"


def _text(value: str) -> bytes:
    return UTF16 + _utf16(value)


def _utf16(value: str) -> bytes:
    return value.encode("utf-16")  # with its byte-order mark, as ID3v2.3 asks


def _frame(frame_id: str, data: bytes) -> bytes:
    return frame_id.encode("ascii") + struct.pack(">I", len(data)) + b"\x00\x00" + data


def _syncsafe(size: int) -> bytes:
    """The tag size in four 7-bit bytes, so no byte of it looks like an MP3 sync word."""
    return bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0))
