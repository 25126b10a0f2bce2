"""The podcast feed: RSS 2.0 with the iTunes and Podcasting 2.0 namespaces, written from the
published items and read back from the feed.xml it wrote (which is the list of items: one
file, renamed into place, is the whole commit of a publish). Pure: no files, no audio."""

from __future__ import annotations

import email.utils
import html
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote, urlsplit

from player import __version__

ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
PODCAST = "https://podcastindex.org/namespace/1.0"
ATOM = "http://www.w3.org/2005/Atom"
NAMESPACES = {"itunes": ITUNES, "podcast": PODCAST, "atom": ATOM}

FEED_FILE = "feed.xml"
FEED_TYPE = "application/rss+xml"
AUDIO_TYPE = "audio/mpeg"
CHAPTERS_TYPE = "application/json+chapters"  # as the Podcasting 2.0 namespace names it
TRANSCRIPT_TYPE = "text/vtt"
GUID_PREFIX = "practice-player-"
HASH_IN_NAME = 12  # hex digits of an item's hash in its file names
# an item's files: SLUG-HASH.mp3, SLUG-HASH.chapters.json, SLUG-HASH.vtt
ITEM_STEM = rf"(?P<slug>[\w.-]+)-(?P<hash>[0-9a-f]{{{HASH_IN_NAME}}})"
ITEM_FILE = re.compile(ITEM_STEM + r"(?P<kind>\.mp3|\.chapters\.json|\.vtt)")


class FeedUnreadable(ValueError):
    """feed.xml is not a feed this program wrote (the caller names the file)."""


@dataclass(frozen=True)
class Item:
    """One published session: its audio and the two files beside it, named by its hash."""

    slug: str  # the session's id: a built-in's, or the script's file name without .yaml
    content_hash: str  # sha256 hex of what made the audio (publish.content_hash)
    title: str
    description: str
    published: datetime  # when this audio was first published (timezone-aware)
    size: int  # the MP3's length in bytes
    duration_s: int

    @property
    def guid(self) -> str:
        return GUID_PREFIX + self.content_hash

    @property
    def stem(self) -> str:
        return f"{self.slug}-{self.content_hash[:HASH_IN_NAME]}"

    @property
    def audio(self) -> str:
        return self.stem + ".mp3"

    @property
    def chapters(self) -> str:
        return self.stem + ".chapters.json"

    @property
    def transcript(self) -> str:
        return self.stem + ".vtt"

    @property
    def files(self) -> tuple[str, str, str]:
        return (self.audio, self.chapters, self.transcript)


@dataclass(frozen=True)
class Channel:
    """The feed as a whole. `folder_url` is where the published folder is reached (its
    files are folder_url/NAME): the base URL followed by the private token."""

    title: str
    folder_url: str
    description: str = "Guided, breath-timed practices, made by the practice player."


def folder_url(base_url: str, token: str) -> str:
    """The published folder's address: BASE-URL/TOKEN/ (README, "A private podcast")."""
    return f"{base_url.rstrip('/')}/{token}/"


def check_base_url(text: str) -> str:
    """An http(s) address with a host and nothing after its path, without a trailing slash;
    ValueError with one sentence otherwise."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{text!r} is not an http:// or https:// address with a host")
    if parts.query or parts.fragment or re.search(r"[\s\"'<>&\\]", text.strip()):
        raise ValueError(f"{text!r}: give the address alone, without a query, quotes or spaces")
    return text.strip().rstrip("/")


def feed_xml(channel: Channel, items: list[Item], built: datetime) -> str:
    """The whole feed, newest item first. `itunes:block` keeps it out of Apple's directory
    and `podcast:locked` tells other platforms not to import it: it is private."""
    for prefix, uri in NAMESPACES.items():
        ET.register_namespace(prefix, uri)
    rss = ET.Element("rss", {"version": "2.0"})
    feed = ET.SubElement(rss, "channel")
    _text(feed, "title", channel.title)
    _text(feed, "link", channel.folder_url + FEED_FILE)
    _text(feed, "description", channel.description)
    _text(feed, "language", "en")
    _text(feed, "generator", f"practice player {__version__}")
    _text(feed, "lastBuildDate", email.utils.format_datetime(built))
    ET.SubElement(
        feed,
        f"{{{ATOM}}}link",
        {"href": channel.folder_url + FEED_FILE, "rel": "self", "type": FEED_TYPE},
    )
    _text(feed, f"{{{ITUNES}}}author", "Practice player")
    _text(feed, f"{{{ITUNES}}}summary", channel.description)
    _text(feed, f"{{{ITUNES}}}block", "Yes")
    _text(feed, f"{{{ITUNES}}}explicit", "false")
    _text(feed, f"{{{ITUNES}}}type", "episodic")
    ET.SubElement(
        ET.SubElement(feed, f"{{{ITUNES}}}category", {"text": "Health & Fitness"}),
        f"{{{ITUNES}}}category",
        {"text": "Fitness"},
    )
    _text(feed, f"{{{PODCAST}}}locked", "yes")
    # newest first; those published together in the order they were asked for
    for item in sorted(items, key=lambda item: item.published, reverse=True):
        _item(feed, item, channel.folder_url)
    ET.indent(rss, space=" ")
    return ET.tostring(rss, encoding="unicode", xml_declaration=True) + "\n"


def _item(feed: ET.Element, item: Item, folder: str) -> None:
    element = ET.SubElement(feed, "item")
    _text(element, "title", item.title)
    # podcast apps show an RSS description as HTML: plain text goes in escaped (a "<" stays
    # a "<"); itunes:summary is plain text by definition
    _text(element, "description", html.escape(item.description, quote=False))
    _text(element, f"{{{ITUNES}}}summary", item.description)
    _text(element, "guid", item.guid).set("isPermaLink", "false")
    _text(element, "pubDate", email.utils.format_datetime(item.published))
    ET.SubElement(
        element,
        "enclosure",
        {"url": folder + quote(item.audio), "length": str(item.size), "type": AUDIO_TYPE},
    )
    _text(element, f"{{{ITUNES}}}duration", str(item.duration_s))
    _text(element, f"{{{ITUNES}}}episodeType", "full")
    _text(element, f"{{{ITUNES}}}explicit", "false")
    ET.SubElement(
        element,
        f"{{{PODCAST}}}chapters",
        {"url": folder + quote(item.chapters), "type": CHAPTERS_TYPE},
    )
    ET.SubElement(
        element,
        f"{{{PODCAST}}}transcript",
        {
            "url": folder + quote(item.transcript),
            "type": TRANSCRIPT_TYPE,
            "language": "en",
            "rel": "captions",
        },
    )


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = text
    return element


@dataclass(frozen=True)
class Feed:
    """What a feed.xml this program wrote says: its title, the folder's URL (the base URL
    and the token: the feed is where both are kept) and its items."""

    title: str
    folder_url: str
    items: list[Item]

    @property
    def token(self) -> str:
        return self.folder_url.rstrip("/").rsplit("/", 1)[1]

    @property
    def base_url(self) -> str:
        return self.folder_url.rstrip("/").rsplit("/", 1)[0]


TOKEN_PATTERN = r"[A-Za-z0-9_-]{16,}"


def read_feed(text: str) -> Feed:
    """The title, folder URL and items of a feed `feed_xml` wrote; FeedUnreadable
    otherwise. An item whose file names or guid are not ours is refused, never guessed: its
    names decide which files a publish keeps."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        raise FeedUnreadable(f"it is not well-formed XML ({err})") from None
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        raise FeedUnreadable("it is not an RSS feed")
    link = channel.find(f"{{{ATOM}}}link[@rel='self']")
    href = link.get("href", "") if link is not None else ""
    found = re.fullmatch(rf"(https?://[^\s\"<>]+?/)({TOKEN_PATTERN})/{re.escape(FEED_FILE)}", href)
    if not found:
        raise FeedUnreadable("it has no link to itself with a private token")
    items = [_read_item(element) for element in channel.findall("item")]
    return Feed(channel.findtext("title") or "", href.removesuffix(FEED_FILE), items)


def _read_item(element: ET.Element) -> Item:
    enclosure = element.find("enclosure")
    guid = element.findtext("guid") or ""
    if enclosure is None or not guid.startswith(GUID_PREFIX):
        raise FeedUnreadable("an item has no enclosure or a guid this program did not write")
    name = unquote(enclosure.get("url", "").rsplit("/", 1)[-1])
    found = ITEM_FILE.fullmatch(name)
    content_hash = guid.removeprefix(GUID_PREFIX)
    if not found or found["kind"] != ".mp3" or not content_hash.startswith(found["hash"]):
        raise FeedUnreadable(f"the item {guid} names an audio file that is not its own")
    try:
        published = email.utils.parsedate_to_datetime(element.findtext("pubDate") or "")
        size = int(enclosure.get("length", ""))
        duration_s = int(element.findtext(f"{{{ITUNES}}}duration") or "")
    except (TypeError, ValueError):
        raise FeedUnreadable(f"the item {guid} has a bad date, length or duration") from None
    return Item(
        slug=found["slug"],
        content_hash=content_hash,
        title=element.findtext("title") or "",
        description=html.unescape(element.findtext("description") or ""),
        published=published if published.tzinfo else published.replace(tzinfo=UTC),
        size=size,
        duration_s=duration_s,
    )


def links_moved(feed: str, token: str, folder: str) -> str:
    """The feed with every link into the published folder (any address, then /TOKEN/)
    moved to the folder URL `folder`: `serve` hands the feed out pointing at the address it
    was reached by."""
    links = re.compile(rf"https?://[^\s\"<>]*?/{re.escape(token)}/")
    return links.sub(lambda _: folder, feed)
