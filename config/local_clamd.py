"""`make run`'s antivirus: a private clamd for the embedded default, as the tests start one.

    python -m config.local_clamd COMMAND [ARG…]

runs COMMAND with CLAMD_URL pointing at a clamd of its own, started for the occasion and
stopped when COMMAND ends (Ctrl-C included). Its configuration, socket and log live in the
checkout's ignored `var/clamd/` (LOCAL_CLAMD_DIR to put them elsewhere).

The virus database is the repository's one-signature test database, tests/data/clamav (the
EICAR test file only): no download, a start in about a second. The demo therefore detects
the EICAR test file and nothing else; production uses clamd with freshclam's databases
(docker/). CLAMAV_DATABASE names another database directory, e.g. /var/lib/clamav once
freshclam has filled it.

Nothing is started, and COMMAND runs as it would have, when CLAMD_URL is already set (a
clamd of your own) or when clamd is not installed (Debian package clamav-daemon): files are
then « non analysé », which the publication check shows and blocks on.

Standard library only: `make run` installs the base requirements, not the test ones.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLAMD = Path(os.environ.get("CLAMD", "/usr/sbin/clamd"))
DATABASE = Path(os.environ.get("CLAMAV_DATABASE", ROOT / "tests" / "data" / "clamav"))
STARTUP_TIMEOUT = 60
# A unix socket's path is limited to 107 bytes.
MAX_SOCKET_PATH = 100

# No `User` line: clamd keeps the identity of whoever runs `make run`, who owns var/.
CONFIG = """\
LocalSocket {socket}
LocalSocketMode 600
DatabaseDirectory {database}
TemporaryDirectory {workdir}
Foreground yes
LogSyslog no
LogTime yes
StreamMaxLength 100M
MaxFileSize 100M
MaxScanSize 400M
MaxThreads 4
"""


def say(message: str) -> None:
    sys.stderr.write(f"[antivirus] {message}\n")
    sys.stderr.flush()


def pong(socket_path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(str(socket_path))
            sock.sendall(b"zPING\0")
            return sock.recv(16).startswith(b"PONG")
    except OSError:
        return False


def start(workdir: Path) -> tuple[subprocess.Popen | None, str | None]:
    """A clamd answering on its socket and its URL; (None, None) if it cannot be had."""
    if not os.access(CLAMD, os.X_OK):
        say(
            f"clamd absent ({CLAMD}) : installez le paquet Debian clamav-daemon pour que la démo "
            "analyse les fichiers. Sans lui, ils restent « non analysés » et la publication le signale."
        )
        return None, None
    workdir.mkdir(parents=True, exist_ok=True)
    socket_path = workdir / "clamd.sock"
    if len(str(socket_path)) > MAX_SOCKET_PATH:
        socket_path = Path(tempfile.mkdtemp(prefix="clamd-")) / "clamd.sock"
    if pong(socket_path):  # another `make run` of this checkout: share its clamd
        say(f"clamd déjà démarré sur {socket_path}.")
        return None, f"unix://{socket_path}"
    socket_path.unlink(missing_ok=True)  # left by a clamd that did not stop cleanly
    config = workdir / "clamd.conf"
    config.write_text(CONFIG.format(socket=socket_path, database=DATABASE, workdir=workdir))
    log_path = workdir / "clamd.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 (clamd's fixed path and our own config file)
            [str(CLAMD), f"--config-file={config}"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches COMMAND; clamd is stopped below, after it
        )
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not pong(socket_path):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            tail = log_path.read_text(errors="replace")[-2000:]
            say(f"clamd n'a pas démarré ; la démo continue sans antivirus. Journal ({log_path}) :\n{tail}")
            return None, None
        time.sleep(0.1)
    say(
        f"clamd démarré ({socket_path}), base de signatures {DATABASE}. Avec la base de test du "
        "dépôt, il ne reconnaît que le fichier de test EICAR ; en production, clamd utilise les "
        "bases de freshclam."
    )
    return process, f"unix://{socket_path}"


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: list[str]) -> int:
    if not argv:
        say("usage : python -m config.local_clamd COMMANDE [ARGUMENT…]")
        return 2
    env = dict(os.environ)
    process = None
    if env.get("CLAMD_URL"):
        say(f"CLAMD_URL est déjà défini ({env['CLAMD_URL']}) : ce clamd-là analyse les fichiers.")
    else:
        workdir = Path(env.get("LOCAL_CLAMD_DIR") or ROOT / "var" / "clamd")
        process, url = start(workdir)
        if url:
            env["CLAMD_URL"] = url
    # SIGTERM (e.g. from a process manager) stops COMMAND, then clamd, like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    child = subprocess.Popen(argv, env=env)  # noqa: S603 (the command given by the Makefile)
    try:
        return child.wait()
    except (KeyboardInterrupt, SystemExit):
        # Ctrl-C reached COMMAND too (same process group); a SIGTERM is passed on.
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
        return 130
    finally:
        if process is not None:
            stop(process)
            say("clamd arrêté.")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
