"""Another platform process for the tests: `manage.py runserver` on a free port of
127.0.0.1, with the environment the test gives it (static files served too: a browser may
use it), stopped when the block ends."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(
    env: dict[str, str], log_path: Path, *, ready_path: str = "/healthz", port: int | None = None
):
    """Yields the server's base URL once `ready_path` answers; its output goes to log_path.
    Give `port` to start a server again where a stopped one listened."""
    port = port or free_port()
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", **env}
    with log_path.open("a") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", "--skip-checks", "--insecure",
             f"127.0.0.1:{port}"],
            cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(url + ready_path, timeout=2).close()
                    break
                except OSError:
                    time.sleep(0.2)
            else:
                pytest.fail(f"the server process did not start:\n{log_path.read_text()}")
            yield url
        finally:
            process.terminate()
            process.wait(timeout=10)
