"""A real Celery worker, in its own process, consumes a task from the real broker and reads
the same database as the test."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from celery.result import allow_join_result
from django.conf import settings
from django.db import connection

from preuves import journal

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.worker


def database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker():
    broker = os.environ.get("CELERY_BROKER_URL")
    if not broker:
        pytest.skip("needs a Redis server (Debian package redis-server) named by CELERY_BROKER_URL")
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        # The same key material as the test process: one log key signs every checkpoint.
        "PREUVES_TEST_KEY_DIR": str(settings.PREUVES_KEY_DIR),
    }
    env.setdefault("CELERY_RESULT_BACKEND", broker)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "-Q",
            queue,
            "--without-gossip",
            "--without-mingle",
            "--loglevel=WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield queue
    process.terminate()
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    if process.returncode not in (0, -15):
        print(output)  # noqa: T201  shown by pytest on failure only


# `result.get()` under allow_join_result: Celery keeps "inside a task, joining would block"
# in one process-wide flag that eager tasks set and restore; eager tasks run at once in
# several live-server threads (tests/offres/test_concurrency.py) can leave it set.


@pytest.mark.django_db(transaction=True)
def test_worker_runs_task_against_the_same_database(worker):
    from config.celery import app

    for i in range(3):
        journal.record("test.worker", payload={"i": i})
    assert settings.CELERY_TASK_ALWAYS_EAGER  # the test process itself is eager, except here
    app.conf.task_always_eager = False
    try:
        result = app.send_task("preuves.tasks.journal_verify", queue=worker)
        with allow_join_result():
            assert result.get(timeout=60) == {"ok": True, "count": 3, "anchors": 0, "leaves": 0, "error": ""}
    finally:
        app.conf.task_always_eager = True


@pytest.mark.django_db(transaction=True)
def test_worker_anchors_the_journal_in_the_transparency_log(worker):
    """The periodic anchoring task, run by a real worker: a leaf and a signed, timestamped
    checkpoint that this process verifies with its own copy of the published key."""
    from config.celery import app
    from preuves import keys, log, verifier
    from preuves.models import LogLeaf

    for i in range(2):
        journal.record("test.worker", payload={"i": i})
    app.conf.task_always_eager = False
    try:
        result = app.send_task("preuves.tasks.journal_anchor", queue=worker)
        with allow_join_result():
            assert result.get(timeout=60) == {"index": 0}
    finally:
        app.conf.task_always_eager = True
    leaf = LogLeaf.objects.get()
    assert leaf.kind == "journal.head"
    report = verifier.verify_bundle(
        log.bundle(0), log_key=keys.material().log_key.public_key(), tsa_ca=[keys.material().ca_cert]
    )
    assert report.ok, report.checks
