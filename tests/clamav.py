"""A real ClamAV daemon for the tests: pytest plugin, loaded by `pytest_plugins = ["tests.clamav"]`.

`clamd_url` starts one private clamd for the session (Debian package `clamav-daemon`), in
the foreground, on a unix socket in a temporary directory, with the one-signature database
of tests/data/clamav (the EICAR test file, see the README there): no download, no system
service, and a start in about a second. `clamav` points CLAMD_URL at it for one test.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# The configuration `make run` gives its private clamd, here with a temporary directory's
# socket and work folder (no `User` line: clamd keeps the identity it was started with).
from config.local_clamd import CONFIG

CLAMD = Path("/usr/sbin/clamd")
DATABASE = Path(__file__).resolve().parent / "data" / "clamav"
STARTUP_TIMEOUT = 60


def _pong(socket_path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(str(socket_path))
            sock.sendall(b"zPING\0")
            return sock.recv(16).startswith(b"PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def clamd_url() -> Iterator[str]:
    if not os.access(CLAMD, os.X_OK):
        pytest.skip("clamd absent : installez le paquet Debian clamav-daemon")
    # Directly in the temporary directory rather than deep in pytest's: the path of a unix
    # socket is limited to 107 bytes.
    workdir = Path(tempfile.mkdtemp(prefix="clamd-"))
    socket_path = workdir / "clamd.sock"
    config = workdir / "clamd.conf"
    config.write_text(CONFIG.format(socket=socket_path, database=DATABASE, workdir=workdir))
    log_path = workdir / "clamd.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(CLAMD), f"--config-file={config}"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _pong(socket_path):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"clamd n'a pas démarré (code {process.poll()}) ; son journal :\n"
                    + log_path.read_text(errors="replace")
                )
            time.sleep(0.1)
        yield f"unix://{socket_path}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def clamav(settings, clamd_url: str) -> str:
    """CLAMD_URL pointed at the test clamd for this test."""
    settings.CLAMD_URL = clamd_url
    return clamd_url
