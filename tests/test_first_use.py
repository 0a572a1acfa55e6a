"""What a new user meets first with `make run`: keys kept in the checkout, French error pages."""

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in their process; a developer's shell may
# name the key folder, the data home or the debug flag: none of them reach these processes.
UNSET = {
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "PREUVES_KEY_DIR",
    "XDG_DATA_HOME",
    "DEBUG",
    "ALLOWED_HOSTS",
}


def _environ(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(extra)
    return env


def _key_dir(settings_module: str, **extra: str) -> Path:
    code = f"import {settings_module} as s; print(s.PREUVES_KEY_DIR)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_environ(**extra),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return Path(result.stdout.strip())


def test_local_keys_live_in_the_checkouts_var_folder():
    key_dir = _key_dir("config.settings.local")
    assert key_dir.is_relative_to(ROOT / "var"), key_dir
    assert "var/" in (ROOT / ".gitignore").read_text().splitlines()


def test_production_keys_never_default_to_the_code_tree(tmp_path):
    production = {"SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "marches.example.fr"}
    key_dir = _key_dir("config.settings.production", HOME=str(tmp_path), **production)
    assert not key_dir.is_relative_to(ROOT), key_dir
    assert key_dir == tmp_path / ".local" / "share" / "marches-ouverts" / "cles"
    volume = _key_dir("config.settings.production", PREUVES_KEY_DIR="/srv/cles", **production)
    assert volume == Path("/srv/cles")


def _run_command() -> tuple[dict[str, str], list[str]]:
    """The Makefile's RUNSERVER, as `make run` runs it: its variables and its command."""
    line = re.search(r"^RUNSERVER := (.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert line, "the Makefile's run target starts the server with RUNSERVER"
    words = shlex.split(line.group(1).replace("$(PY)", shlex.quote(sys.executable)))
    assignments = {}
    while "=" in words[0]:
        name, _, value = words.pop(0).partition("=")
        assignments[name] = value
    assert not [w for w in words if "$(" in w], words
    return assignments, words


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_make_run_serves_the_french_error_pages_and_its_static_files(tmp_path):
    assignments, command = _run_command()
    port = _free_port()
    assert command[-1] == "127.0.0.1:8000"
    command[-1] = f"127.0.0.1:{port}"
    env = _environ(
        **assignments,
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        PREUVES_KEY_DIR=str(tmp_path / "cles"),
        PYTHONUNBUFFERED="1",
    )
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):  # up to a minute for runserver's checks on a loaded machine
            try:
                status, page = _get(base + "/nexiste-pas/")
                break
            except (ConnectionError, urllib.error.URLError):
                assert server.poll() is None, (tmp_path / "server.log").read_text()
                time.sleep(0.1)
        else:
            raise AssertionError((tmp_path / "server.log").read_text())
        assert status == 404
        assert "Page introuvable" in page
        assert '<html lang="fr"' in page
        assert "Django" not in page
        assert "DEBUG = True" not in page
        stylesheets = re.findall(r'href="(/static/[^"]+\.css)"', page)
        assert stylesheets, page
        assert _get(base + stylesheets[0])[0] == 200  # static files still served
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


def test_the_500_page_is_french_and_needs_no_request_context():
    from django.test import RequestFactory
    from django.views.defaults import server_error

    response = server_error(RequestFactory().get("/"))  # Django's last resort: no context
    assert response.status_code == 500
    page = response.content.decode()
    assert '<html lang="fr">' in page
    assert "Erreur du serveur" in page


# --- make run's antivirus: a private clamd, as the tests start one ----------------------------

CLAMD_PATH = Path("/usr/sbin/clamd")
# The child reports the CLAMD_URL it was given and whether clamd answers there, then waits.
PROBE = """
import os, socket, sys, time
url = os.environ.get("CLAMD_URL", "")
alive = False
if url:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(url.removeprefix("unix://")); s.sendall(b"zPING\\0"); alive = s.recv(8) == b"PONG\\0"
print(url, alive, flush=True)
if len(sys.argv) > 1:
    time.sleep(120)
"""


def _answers(socket_path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(str(socket_path))
            sock.sendall(b"zPING\0")
            return sock.recv(8).startswith(b"PONG")
    except OSError:
        return False


def test_make_run_runs_the_demo_and_the_server_under_its_clamd():
    recipe = re.search(r"^run:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert recipe, "the Makefile has a run target"
    line = [step for step in recipe.group(1).splitlines() if "config.local_clamd" in step]
    assert line, recipe.group(1)
    assert "manage.py demo" in line[0]
    assert "$(RUNSERVER)" in line[0]


def test_make_run_starts_a_private_clamd_and_stops_it_with_the_server(tmp_path):
    if not os.access(CLAMD_PATH, os.X_OK):
        pytest.skip("clamd absent : installez le paquet Debian clamav-daemon")
    workdir = tmp_path / "clamd"
    socket_path = workdir / "clamd.sock"
    with subprocess.Popen(
        [sys.executable, "-m", "config.local_clamd", sys.executable, "-c", PROBE, "wait"],
        cwd=ROOT,
        env=_environ(LOCAL_CLAMD_DIR=str(workdir), CLAMD_URL=""),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as wrapper:
        try:
            url, alive = wrapper.stdout.readline().split()
            assert url == f"unix://{socket_path}"
            assert alive == "True"  # the server's process reaches clamd
            config = (workdir / "clamd.conf").read_text()
            assert f"DatabaseDirectory {ROOT / 'tests' / 'data' / 'clamav'}" in config
            # Ctrl-C in the terminal: the whole foreground group gets SIGINT.
            os.killpg(wrapper.pid, signal.SIGINT)
            wrapper.wait(timeout=60)
        finally:
            if wrapper.poll() is None:
                os.killpg(wrapper.pid, signal.SIGKILL)
        assert "clamd arrêté." in wrapper.stderr.read()
    assert not _answers(socket_path)


def test_without_clamd_make_run_says_so_and_goes_on(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "config.local_clamd", sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=_environ(LOCAL_CLAMD_DIR=str(tmp_path / "clamd"), CLAMD_URL="", CLAMD=str(tmp_path / "absent")),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.split() == ["False"]  # no CLAMD_URL, and the command ran
    assert "clamd absent" in result.stderr
    assert "clamav-daemon" in result.stderr


def test_runserver_is_the_embedded_defaults_with_a_long_listen_queue():
    """`make run` serves with demo's runserver: static files as staticfiles' command serves
    them, and a listen queue of 128 connections, not Django's 10, for a deadline's burst."""
    from django.contrib.staticfiles.management.commands.runserver import Command as StaticFilesRunserver
    from django.core.management import get_commands, load_command_class

    assert get_commands()["runserver"] == "demo"
    command = load_command_class("demo", "runserver")
    assert isinstance(command, StaticFilesRunserver)
    assert command.server_cls.request_queue_size >= 128
