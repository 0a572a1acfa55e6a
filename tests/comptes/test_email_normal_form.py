"""The normal form of e-mail addresses (comptes/emails.py), the database's guard on it, and
the migration that brought stored addresses to it."""

import importlib
import sys

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from comptes.emails import fold, normalise_email
from comptes.models import Invitation, User
from tests.factories import PASSWORD, MembershipFactory, UserFactory

from .spellings import ADDRESS, SPELLINGS

ON_SQLITE = connection.vendor == "sqlite"


def _invitation(email: str, *, models=None) -> Invitation:
    """An invitation row as written, whatever its address (no validation on this path)."""
    admin = MembershipFactory(company_admin=True)
    model = models.get_model("comptes", "Invitation") if models else Invitation
    return model.objects.create(
        organisation_id=admin.organisation_id,
        email=email,
        role="company_member",
        token_hash=email.encode().hex()[:64].ljust(64, "0"),
        invited_by_id=admin.user_id,
        expires_at="2099-01-01T00:00:00Z",
    )


@pytest.mark.parametrize("spelling", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_every_spelling_has_the_stored_address_as_normal_form(spelling):
    assert normalise_email(spelling) == ADDRESS


@pytest.mark.parametrize(
    ("typed", "normal"),
    [
        ("  Jean.Dupont@Exemple.FR ", "jean.dupont@exemple.fr"),
        ("jean＠exemple．fr", "jean@exemple.fr"),  # fullwidth @ and full stop
        ("ﬁnances@exemple.fr", "finances@exemple.fr"),  # ligature
        ("strasse@STRAẞE.de", "strasse@strasse.de"),  # capital sharp s folds to ss
        # A domain's ASCII (xn--) and Unicode spellings are one domain.
        ("achats@xn--rseau-bsa.fr", "achats@réseau.fr"),
        ("achats@RÉSEAU.fr", "achats@réseau.fr"),
        # Not addresses: still a normal form, for the validator to refuse.
        ("sans-arobase", "sans-arobase"),
        ("a@" + "x" * 70 + ".fr", "a@" + "x" * 70 + ".fr"),
    ],
)
def test_normal_form(typed, normal):
    assert normalise_email(typed) == normal
    assert normalise_email(normal) == normal


def test_the_fold_is_idempotent_for_every_code_point():
    """NFKC ∘ casefold ∘ NFKC: applied twice it changes nothing (casefold then NFKC alone
    would not: U+037A folds only at the second pass)."""
    unstable = [
        hex(cp)
        for cp in range(sys.maxunicode + 1)
        if not 0xD800 <= cp <= 0xDFFF and fold(fold(chr(cp))) != fold(chr(cp))
    ]
    assert unstable == []


@pytest.mark.parametrize("local", ["commıssion", "commİssion", "commission"])
def test_a_local_part_must_be_ascii_once_folded(local):
    from comptes.forms import NormalisedEmailField

    field = NormalisedEmailField()
    if local.isascii():
        assert field.clean(f"{local}@demoville.demo") == f"{local}@demoville.demo"
        return
    with pytest.raises(ValidationError, match="ni lettre accentuée ni caractère non latin"):
        field.clean(f"{local}@demoville.demo")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "spelling", ["Kessler.commission@demoville.demo", "keſsler.commission@demoville.demo"]
)
def test_create_user_refuses_a_spelling_of_an_existing_address(spelling):
    """The manager's path (createsuperuser, the shell) refuses too, in French."""
    UserFactory(email=ADDRESS)
    with pytest.raises(ValidationError, match="Un compte existe déjà avec cette adresse e-mail"):
        User.objects.create_user(spelling, PASSWORD, first_name="A", last_name="B")
    with pytest.raises(CommandError):
        call_command("createsuperuser", "--noinput", email=spelling, first_name="A", last_name="B")
    assert User.objects.count() == 1


# --- The database's guard ---------------------------------------------------------------


def _write_raw(model, pk: int, email: str) -> None:
    """Past the application (an update() skips validation): only the database stands."""
    with transaction.atomic():
        model.objects.filter(pk=pk).update(email=email)


@pytest.mark.django_db
@pytest.mark.parametrize("model", [User, Invitation])
def test_the_database_refuses_an_address_in_upper_case(model):
    row = UserFactory(email=ADDRESS) if model is User else _invitation(ADDRESS)
    with pytest.raises(IntegrityError):
        _write_raw(model, row.pk, "Kessler.commission@demoville.demo")
    _write_raw(model, row.pk, "autre.adresse@demoville.demo")  # a normal form passes


@pytest.mark.django_db
@pytest.mark.skipif(ON_SQLITE, reason="SQLite has no Unicode normalisation: it checks the ASCII case only")
@pytest.mark.parametrize("variant", ["long_s", "kelvin", "fullwidth"])
@pytest.mark.parametrize("model", [User, Invitation])
def test_postgresql_refuses_an_address_that_nfkc_changes(model, variant):
    row = UserFactory(email=ADDRESS) if model is User else _invitation(ADDRESS)
    with pytest.raises(IntegrityError):
        _write_raw(model, row.pk, SPELLINGS[variant])


@pytest.mark.django_db
def test_the_database_refuses_two_accounts_with_one_normal_form():
    UserFactory(email=ADDRESS)
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.bulk_create([User(email=ADDRESS, first_name="A", last_name="B")])


# --- The migration ----------------------------------------------------------------------

BEFORE = ("comptes", "0002_ceremony_key")
MIGRATION = importlib.import_module("comptes.migrations.0003_email_normal_form")


def test_the_migration_plans_rewrites_and_finds_collisions():
    changes, collisions = MIGRATION.plan(
        {
            1: "Kessler.commission@demoville.demo",
            2: "autre@exemple.fr",
            3: "keſsler.COMMISSION@demoville.demo",
        }
    )
    assert collisions == [
        [(1, "Kessler.commission@demoville.demo"), (3, "keſsler.COMMISSION@demoville.demo")]
    ]
    assert changes == {1: ADDRESS, 3: ADDRESS}
    assert "compte n° 1 <Kessler.commission@demoville.demo>, compte n° 3" in MIGRATION.collision_report(
        collisions
    )


@pytest.fixture
def before_the_normal_form(transactional_db):
    """The schema of 0002 (no check constraint), then back to the latest."""
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes("comptes")
    executor.migrate([BEFORE])
    executor.loader.build_graph()
    yield executor.loader.project_state([BEFORE]).apps
    executor.loader.build_graph()
    executor.migrate(latest)


def _old_user(apps, email: str):
    return apps.get_model("comptes", "User").objects.create(
        email=email, first_name="A", last_name="B", password="!"
    )


@pytest.mark.django_db(transaction=True)
def test_the_migration_normalises_stored_addresses(before_the_normal_form, capsys):
    apps = before_the_normal_form
    user = _old_user(apps, "keſsler.commission@demoville.demo")
    other = _old_user(apps, "autre@exemple.fr")
    dotless = _old_user(apps, "commıssion@demoville.demo")  # let through by the old validator
    _invitation("\u212aessler.COMMISSION@demoville.demo", models=apps)
    MigrationExecutor(connection).migrate([("comptes", "0003_email_normal_form")])
    assert User.objects.get(pk=user.pk).email == ADDRESS
    assert User.objects.get(pk=other.pk).email == "autre@exemple.fr"
    assert Invitation.objects.get().email == ADDRESS
    assert User.objects.count() == 4  # the inviting admin's address was normal already
    assert f"n° {dotless.pk} <commıssion@demoville.demo>" in capsys.readouterr().out
    # It keeps a profile it can update.
    from comptes.services import profile_update

    profile_update(user=User.objects.get(pk=dotless.pk), first_name="Claire", last_name="Moreau")


@pytest.mark.django_db(transaction=True)
def test_the_migration_refuses_accounts_that_would_collide(before_the_normal_form):
    apps = before_the_normal_form
    _old_user(apps, "kessler.commission@demoville.demo")
    _old_user(apps, "keſsler.commission@demoville.demo")
    with pytest.raises(RuntimeError, match="Rien n'a été modifié") as refused:
        MigrationExecutor(connection).migrate([("comptes", "0003_email_normal_form")])
    assert "<keſsler.commission@demoville.demo>" in str(refused.value)
    emails = apps.get_model("comptes", "User").objects.values_list("email", flat=True)
    assert sorted(emails) == ["kessler.commission@demoville.demo", "keſsler.commission@demoville.demo"]
    # Settled by the operator, the migration then goes through.
    apps.get_model("comptes", "User").objects.filter(email__startswith="keſ").update(
        email="k2@demoville.demo"
    )
    MigrationExecutor(connection).migrate([("comptes", "0003_email_normal_form")])
    assert sorted(User.objects.values_list("email", flat=True)) == ["k2@demoville.demo", ADDRESS]
