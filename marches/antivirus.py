"""Antivirus scanning of uploaded files by ClamAV's daemon, clamd, over its socket.

`CLAMD_URL` says where clamd listens: `unix:///run/clamav/clamd.sock` or `tcp://clamd:3310`.
Empty, nothing is scanned and every file is `not_scanned` (shown as « non analysé », never
as clean). Set, a file is accepted only on clamd's verdict: when clamd cannot be reached,
times out or answers an error, the upload is refused (503) rather than accepted unscanned.

The INSTREAM protocol is spoken here directly (about forty lines) rather than through
`clamav-client` (0.7.2, the maintained fork of the abandoned `clamd`), because of how that
client behaves on exactly the cases this module is about:
- when a file exceeds clamd's StreamMaxLength, clamd answers and hangs up mid-upload, and
  the client lets a bare BrokenPipeError escape instead of its own error, without reading
  clamd's answer; here the answer is read and logged;
- it sends the file in fixed 1 KiB chunks (a million system calls for a 1 GB DCE);
- on a unix socket, its timeout is set only after connecting.
Its GPL-2.0 licence, for a forty-line protocol, weighed too.

Protocol (man clamd): `zINSTREAM\\0`, then chunks each prefixed by their length as a 4-byte
big-endian integer, then a zero length; clamd answers one NUL-terminated line:
`stream: OK`, `stream: <signature> FOUND`, or `<reason> ERROR`.
"""

import logging
import socket
import struct
from dataclasses import dataclass
from typing import IO
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.errors import ApplicationError

logger = logging.getLogger(__name__)

CLEAN = "clean"
INFECTED = "infected"
NOT_SCANNED = "not_scanned"

# Well under clamd's StreamMaxLength (25 MB by default), which bounds each chunk too.
CHUNK_SIZE = 256 * 1024
MAX_REPLY_BYTES = 4096
UNAVAILABLE_MESSAGE = (
    "L'analyse antivirus est momentanément indisponible : le fichier n'a pas été importé. "
    "Réessayez dans quelques minutes."
)


@dataclass(frozen=True)
class ScanResult:
    status: str  # CLEAN, INFECTED or NOT_SCANNED
    signature: str = ""  # the name of what clamd found, when INFECTED


def _url() -> str:
    return getattr(settings, "CLAMD_URL", "") or ""


def _connect(url: str) -> socket.socket:
    """A socket connected to clamd; every operation on it times out after CLAMD_TIMEOUT."""
    timeout = getattr(settings, "CLAMD_TIMEOUT", 60)
    parts = urlsplit(url)
    if parts.scheme == "unix" and parts.path:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(parts.path)
        except BaseException:
            sock.close()
            raise
        return sock
    if parts.scheme == "tcp" and parts.hostname:
        return socket.create_connection((parts.hostname, parts.port or 3310), timeout=timeout)
    raise ImproperlyConfigured(
        "CLAMD_URL doit être de la forme unix:///chemin/vers/clamd.sock ou tcp://hôte:3310."
    )


def _read_reply(sock: socket.socket) -> str:
    reply = b""
    while b"\0" not in reply and len(reply) < MAX_REPLY_BYTES:
        data = sock.recv(MAX_REPLY_BYTES)
        if not data:
            break
        reply += data
    return reply.split(b"\0", 1)[0].decode("utf-8", "replace").strip()


def _unavailable() -> ApplicationError:
    return ApplicationError(UNAVAILABLE_MESSAGE, code="antivirus_unavailable", status=503)


def scan(fileobj: IO[bytes]) -> ScanResult:
    """clamd's verdict on the file, streamed from its start; the file is left at 0.

    Raises ApplicationError (503, `antivirus_unavailable`) when a scanner is configured but
    gave no verdict: the caller must then refuse the file.
    """
    url = _url()
    if not url:
        return ScanResult(NOT_SCANNED)
    fileobj.seek(0)
    try:
        with _connect(url) as sock:
            sock.sendall(b"zINSTREAM\0")
            try:
                while chunk := fileobj.read(CHUNK_SIZE):
                    sock.sendall(struct.pack("!L", len(chunk)) + chunk)
                sock.sendall(struct.pack("!L", 0))
            except (BrokenPipeError, ConnectionResetError):
                # clamd stopped reading: it has said why (e.g. size limit) before hanging up.
                pass
            reply = _read_reply(sock)
    except OSError as exc:  # refused, missing socket, timeout (TimeoutError is an OSError)
        logger.warning("clamd (%s) injoignable : %s", url, exc)
        raise _unavailable() from exc
    finally:
        fileobj.seek(0)
    if reply == "stream: OK":
        return ScanResult(CLEAN)
    if reply.startswith("stream: ") and reply.endswith(" FOUND"):
        return ScanResult(INFECTED, signature=reply.removeprefix("stream: ").removesuffix(" FOUND"))
    logger.warning("clamd (%s) n'a pas analysé le fichier : %r", url, reply)
    raise _unavailable()


def ping() -> bool:
    """Whether a scanner is configured and answers."""
    url = _url()
    if not url:
        return False
    try:
        with _connect(url) as sock:
            sock.sendall(b"zPING\0")
            return _read_reply(sock) == "PONG"
    except OSError:
        return False
