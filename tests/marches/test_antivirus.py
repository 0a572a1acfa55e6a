"""marches/antivirus.py against a real clamd (tests/clamav.py), with the EICAR test file."""

import io
import os
import socket
import tempfile
import time
import zipfile

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.errors import ApplicationError
from marches import antivirus
from marches.antivirus import ScanResult, ping, scan

# Built from two halves, so that no file of the repository is itself the EICAR test file.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


class Zeros(io.RawIOBase):
    """`size` zero bytes, read in chunks, never held in memory."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = {0: 0, 1: self.position, 2: self.size}[whence] + offset
        return self.position

    def readinto(self, buffer) -> int:
        count = max(0, min(len(buffer), self.size - self.position))
        buffer[:count] = bytes(count)
        self.position += count
        return count


def assert_unavailable(fileobj) -> None:
    with pytest.raises(ApplicationError) as info:
        scan(fileobj)
    assert info.value.status == 503
    assert info.value.code == "antivirus_unavailable"
    assert info.value.message == antivirus.UNAVAILABLE_MESSAGE
    assert fileobj.tell() == 0


def test_eicar_is_detected(clamav):
    upload = io.BytesIO(EICAR)
    result = scan(upload)
    assert result.status == antivirus.INFECTED == "infected"
    assert result.signature.startswith("Eicar-Test-Signature")
    assert upload.tell() == 0


def test_eicar_inside_a_zip_is_detected(clamav):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("DCE/CCAP.pdf", b"%PDF-1.7")
        zf.writestr("DCE/annexes/eicar.com", EICAR)
    assert scan(buffer).status == "infected"


def test_clean_file_passes_and_is_rewound(clamav):
    upload = io.BytesIO(b"%PDF-1.7 Reglement de consultation")
    upload.read(4)
    assert scan(upload) == ScanResult("clean")
    assert upload.tell() == 0
    assert scan(io.BytesIO(b"")) == ScanResult("clean")


def test_large_file_is_streamed(clamav):
    with tempfile.TemporaryFile() as upload:
        for _ in range(5):
            upload.write(os.urandom(1024 * 1024))
        upload.write(EICAR)  # not the whole file: the hash signature does not match
        assert scan(upload) == ScanResult("clean")
        assert upload.tell() == 0


def test_not_configured_means_not_scanned(settings):
    settings.CLAMD_URL = ""
    assert scan(io.BytesIO(EICAR)) == ScanResult("not_scanned")
    assert ping() is False


def test_ping(clamav):
    assert ping() is True


def test_dead_unix_socket_refuses_the_file(settings, tmp_path):
    settings.CLAMD_URL = f"unix://{tmp_path / 'absent.sock'}"
    assert_unavailable(io.BytesIO(b"contenu"))
    assert ping() is False


def test_closed_tcp_port_refuses_the_file(settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CLAMD_URL = f"tcp://127.0.0.1:{port}"
    assert_unavailable(io.BytesIO(b"contenu"))
    assert ping() is False


def test_silent_clamd_times_out(settings, tmp_path):
    """A daemon that accepts the connection and never answers (hung, overloaded)."""
    path = str(tmp_path / "muet.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(1)
        settings.CLAMD_URL = f"unix://{path}"
        settings.CLAMD_TIMEOUT = 1
        started = time.monotonic()
        assert_unavailable(io.BytesIO(b"contenu"))
        assert time.monotonic() - started < 10


def test_clamd_error_refuses_the_file(clamav):
    """Past StreamMaxLength (100M for the test clamd), clamd answers « INSTREAM size limit
    exceeded. ERROR » and hangs up mid-upload: the file is refused, not accepted unscanned."""
    assert_unavailable(Zeros(101 * 1024 * 1024))


def test_malformed_url(settings):
    settings.CLAMD_URL = "clamd:3310"
    with pytest.raises(ImproperlyConfigured):
        scan(io.BytesIO(b"x"))
