"""`practice serve`: a published folder over HTTP for the phones on the same network.

waitress (a maintained, threaded WSGI server) listens; werkzeug answers each request: byte
ranges (206 Partial Content, 416), conditional requests (ETag, Last-Modified) and HEAD. The
one WSGI application here decides what may be served at all: only at /TOKEN/NAME, only a
regular file of a known type directly in the folder, never a dot file and never one a
symlink leads out of the folder to. Anything else is a 404, the same for a wrong token, so
nothing tells a stranger what exists.
"""

from __future__ import annotations

import errno
import hmac
import io
import logging
import os
import re
import socket
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import segno
from waitress.server import create_server
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request as HttpRequest
from werkzeug.wrappers import Response
from werkzeug.wsgi import wrap_file

from player import interrupt
from player.errors import CannotListen, NoNetworkAddress, UsageProblem
from player.publish.feed import FEED_FILE, FEED_TYPE, links_moved
from player.publish.folder import Settings, check_published
from player.publish.network import ALL_INTERFACES, DEFAULT_PORT, network_address, url_host

log = logging.getLogger(__name__)

CONTENT_TYPES = {
    ".mp3": "audio/mpeg",
    ".xml": FEED_TYPE,
    ".json": "application/json",
    ".vtt": "text/vtt",
}
THREADS = 8  # a podcast app may fetch the feed, chapters and several ranges at once
_HOST_HEADER = re.compile(r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?")


class FeedApp:
    """The WSGI application that serves one published folder under its token."""

    def __init__(self, root: Path, settings: Settings) -> None:
        self.root = root.resolve()
        self.token = settings.token
        # --base-url said where phones reach the folder (a name, a proxy): the feed's links
        # are then served as written, whatever Host a proxy in between sends
        self.links_fixed = settings.base_url is not None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = HttpRequest(environ)
        try:
            response = self.respond(request)
        except HTTPException as refused:  # 416 for a range past the end
            response = refused.get_response(environ)
        except Exception as err:  # never a traceback from the server: one line, 500
            log.warning("could not serve %s: %s", request.path.rsplit("/", 1)[-1], err)
            response = Response("could not read the file\n", status=500)
        log.info("%s %s %s", request.method, request.path.rsplit("/", 1)[-1], response.status)
        return response(environ, start_response)

    def respond(self, request: HttpRequest) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response("", status=405, headers={"Allow": "GET, HEAD"})
        parts = request.path.split("/")
        if len(parts) != 3 or parts[0] or not _same(parts[1], self.token):
            return _not_found()
        opened = self.open(parts[2])
        if opened is None:
            return _not_found()
        file, status = opened
        if parts[2] == FEED_FILE:
            with file:
                return self.feed(request, file.read())
        response = Response(
            wrap_file(request.environ, file),
            mimetype=CONTENT_TYPES[Path(parts[2]).suffix],
            direct_passthrough=True,
        )
        response.content_length = status.st_size
        response.last_modified = datetime.fromtimestamp(status.st_mtime, UTC)
        response.set_etag(f"{status.st_ino:x}-{status.st_mtime_ns:x}-{status.st_size:x}")
        response.cache_control.no_cache = True  # revalidated: cheap, and never stale
        try:
            return response.make_conditional(
                request.environ, accept_ranges=True, complete_length=status.st_size
            )
        except HTTPException:
            file.close()
            raise

    def open(self, name: str) -> tuple[IO[bytes], os.stat_result] | None:
        """The file `name` names directly in the folder, open, when it may be served."""
        if not _servable(name):
            return None
        real = os.path.realpath(self.root / name)
        if Path(real).parent != self.root or not _servable(Path(real).name):
            return None  # a symlink out of the folder, or to a file that is not served
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(real, flags)  # non-blocking: a FIFO never holds a request
        except OSError:
            return None
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            os.close(fd)
            return None
        return os.fdopen(fd, "rb"), status

    def feed(self, request: HttpRequest, data: bytes) -> Response:
        """The feed, its links pointing at the address the request came to (the phone finds
        the audio where it found the feed, whatever this computer's address is today),
        unless --base-url fixed them."""
        host = request.host.lower()
        if not self.links_fixed and _HOST_HEADER.fullmatch(host):
            here = f"http://{host}/{self.token}/"
            data = links_moved(data.decode("utf-8"), self.token, here).encode("utf-8")
        response = Response(data, mimetype=FEED_TYPE)
        response.cache_control.no_cache = True  # a new item shows at the next refresh
        response.add_etag()
        return response.make_conditional(request.environ, accept_ranges=True)


def _servable(name: str) -> bool:
    return (
        bool(name)
        and not name.startswith(".")
        and not any(char in name for char in "/\\\x00")
        and Path(name).suffix in CONTENT_TYPES
    )


def _same(typed: str, token: str) -> bool:
    return hmac.compare_digest(typed.encode("utf-8", "surrogateescape"), token.encode())


def _not_found() -> Response:
    return Response("not found\n", status=404, mimetype="text/plain")


@dataclass
class Serving:
    """A server listening, not yet answering: `run` answers until Ctrl-C or SIGTERM."""

    server: Any  # waitress's server
    feed_url: str
    local_only: bool  # bound to a loopback address: only this computer can reach it

    def run(self) -> None:
        """Answer requests until a signal stops the command (KeyboardInterrupt then)."""
        try:
            self.server.run()  # returns when waitress catches the KeyboardInterrupt
        finally:
            self.server.close()
        interrupt.raise_if_requested()


def start(folder: Path, host: str = "0.0.0.0", port: int | None = None) -> Serving:
    """Listen for requests for the published `folder` on `host` and `port` (None: the
    port of the feed's --base-url, else DEFAULT_PORT). The feed's address to give a phone
    is the one --base-url set, else this computer's on the network (or `host`)."""
    settings = check_published(folder)
    if port is None:
        port = _port_of(settings.base_url) or DEFAULT_PORT
    shown = host
    if host in ALL_INTERFACES and settings.base_url is None:
        shown = network_address() or ""
        if not shown:
            raise NoNetworkAddress(
                "this computer has no network address a phone could reach: connect it to "
                "the network (the phone's Wi-Fi), or serve it to this computer alone with "
                "--host 127.0.0.1"
            )
    _quiet_tracebacks(logging.getLogger("waitress"))
    listening = _listening_socket(host or "0.0.0.0", port)
    try:
        server = create_server(
            FeedApp(folder, settings), sockets=[listening], threads=THREADS, ident="practice"
        )
    except BaseException:
        listening.close()
        raise
    if settings.base_url is not None:
        feed_url = settings.folder_url + FEED_FILE
    else:
        bound = listening.getsockname()[1]
        feed_url = f"http://{url_host(shown)}:{bound}/{settings.token}/{FEED_FILE}"
    local = host not in ALL_INTERFACES and _loopback(host)
    return Serving(server, feed_url, local)


def _listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to `host` and `port` (waitress listens on it): bound here, so a
    port in use or an address that is not ours is one sentence and nothing is left open."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (OSError, UnicodeError):
        raise UsageProblem(
            f"--host {host!r} is not an address or name of this computer: give one of its "
            "addresses, or leave --host out to serve on every network"
        ) from None
    listening = socket.socket(family, kind, proto)
    try:
        if os.name == "posix":  # as waitress does: a restart may take the port at once
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind(address)
    except OSError as err:
        listening.close()
        raise _listen_error(err, host, port) from None
    return listening


def _port_of(base_url: str | None) -> int | None:
    if not base_url:
        return None
    try:
        parts = urlsplit(base_url)
        return parts.port if parts.scheme == "http" else None
    except ValueError:
        return None


def _loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def _listen_error(err: OSError, host: str, port: int) -> Exception:
    where = f"{url_host(host or '0.0.0.0')}:{port}"
    if err.errno == errno.EADDRINUSE:
        return CannotListen(
            f"port {port} is already in use ({where}): stop what uses it, or pick another "
            "port with --port"
        )
    if err.errno == errno.EADDRNOTAVAIL:
        return UsageProblem(
            f"--host {host} is not an address of this computer: give one of its addresses, "
            "or leave --host out to serve on every network"
        )
    if err.errno in (errno.EACCES, errno.EPERM):
        return CannotListen(
            f"not allowed to listen on {where}: pick a port from 1024 up with --port"
        )
    return CannotListen(f"cannot listen on {where} ({err.strerror or err})")


class _WithoutTraceback(logging.Filter):
    """waitress logs a failed connection with its traceback: the message alone here."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.getMessage()} ({record.exc_info[1]})"
            record.args = None
        record.exc_info = None
        record.exc_text = None
        return True


def _quiet_tracebacks(logger: logging.Logger) -> None:
    if not any(isinstance(found, _WithoutTraceback) for found in logger.filters):
        logger.addFilter(_WithoutTraceback())


def qr_code(text: str) -> str:
    """`text` as a QR code drawn with block characters, for a terminal: a phone's camera
    opens the address from it."""
    drawn = io.StringIO()
    segno.make(text, error="l", micro=False).terminal(out=drawn, compact=True, border=2)
    return drawn.getvalue()
