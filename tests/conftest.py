import os

import pytest
from django.core.servers.basehttp import ThreadedWSGIServer
from django.test.testcases import LiveServerThread

from demo.management.commands.runserver import LISTEN_QUEUE

from .factories import MembershipFactory

pytest_plugins = ["tests.clamav"]


class _LiveServer(ThreadedWSGIServer):
    """pytest-django's live server listens like `make run`'s runserver (demo's command): a
    queue of 10 connections reset some of the concurrency tests' bursts under load."""

    request_queue_size = LISTEN_QUEUE


LiveServerThread.server_class = _LiveServer

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
_skipped: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    """In CI a skipped test is a failure: every tool the suite needs is installed there."""
    if IN_CI and _skipped:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter):
    if IN_CI and _skipped:
        terminalreporter.write_line(
            f"CI: {len(_skipped)} test(s) skipped, which CI counts as a failure: " + ", ".join(_skipped),
            red=True,
        )


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }


@pytest.fixture
def company_admin(db):
    return MembershipFactory(company_admin=True)


@pytest.fixture
def buyer_admin(db):
    return MembershipFactory(buyer_admin=True, user__totp=True)


KEPT_ON_FLUSH = {"marches_cpvcode"}


@pytest.fixture
def buyer_agent(db):
    return MembershipFactory(buyer_agent=True, user__totp=True)


@pytest.fixture(scope="session", autouse=True)
def _journal_triggers_allow_test_flush(django_db_blocker):
    """Transactional tests empty the database between tests (TRUNCATE on PostgreSQL, DELETE on
    SQLite), which the append-only triggers of the journal and of the evidence tables rightly
    refuse. The harness lifts them around that flush only, as the database owner could; every
    other statement meets them."""
    import importlib

    from django.db import connections

    journal = importlib.import_module("preuves.migrations.0002_journal_append_only")
    evidence = importlib.import_module("preuves.migrations.0004_proofs_append_only")
    strict = importlib.import_module("preuves.migrations.0006_append_only_strict")
    guarded = {"preuves_journalentry", *evidence.TABLES, *strict.TABLES}
    # Patched on the class: with Playwright's event loop running, Django hands out other
    # connection objects (context-local), and each must behave the same.
    ops_class = type(connections["default"].ops)
    original = ops_class.sql_flush

    def sql_flush(self, style, tables, **kwargs):
        # The CPV list is reference data loaded by a migration, like content types: kept.
        tables = [table for table in tables if table not in KEPT_ON_FLUSH]
        statements = original(self, style, tables, **kwargs)
        if not guarded.intersection(tables):
            return statements
        if self.connection.vendor == "postgresql":
            disable = [f"ALTER TABLE {table} DISABLE TRIGGER USER;" for table in sorted(guarded)]
            enable = [f"ALTER TABLE {table} ENABLE TRIGGER USER;" for table in sorted(guarded)]
            return [*disable, *statements, *enable]
        backward = [*journal.SQLITE_BACKWARD, *evidence.SQLITE_BACKWARD, *strict.SQLITE_BACKWARD]
        forward = [*journal.SQLITE_FORWARD, *evidence.SQLITE_FORWARD, *strict.SQLITE_FORWARD]
        return [*backward, *statements, *forward]

    ops_class.sql_flush = sql_flush
    yield
    ops_class.sql_flush = original
