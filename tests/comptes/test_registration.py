import re
import threading
import time

import pytest
from django.core import mail
from django.db import connection, connections, transaction
from django.urls import reverse

from comptes.models import Membership, Organisation, User
from preuves.models import JournalEntry
from tests.factories import OrganisationFactory, UserFactory
from tests.helpers import text

from .spellings import ADDRESS, VARIANTS

pytestmark = pytest.mark.django_db

FORM = {
    "first_name": "Gaëlle",
    "last_name": "Bernard",
    "email": "Gaelle.Bernard@Exemple.fr",
    "password1": "un-mot-de-passe-solide",
    "password2": "un-mot-de-passe-solide",
    "organisation_name": "Bernard Menuiserie",
    "country": "FR",
    "siret": "732 829 320 00074",
    "vat_number": "",
    "national_id": "",
}


@pytest.fixture
def register(client, django_capture_on_commit_callbacks):
    """Post the registration form; e-mails leave on commit, so run those callbacks."""

    def post(**changes):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(reverse("comptes:register"), {**FORM, **changes})

    return post


def verification_link() -> str:
    (message,) = mail.outbox
    return re.search(r"https?://\S+/comptes/verification/\S+/", message.body).group(0)


def test_company_registers_and_becomes_its_admin(client, register):
    response = register()
    assert response.status_code == 200
    assert "Un lien de confirmation vient d'être envoyé" in text(response)
    user = User.objects.get()
    assert user.email == "gaelle.bernard@exemple.fr"
    assert not user.email_verified
    assert user.password.startswith("md5$")  # hashed (test hasher), never stored in clear
    organisation = Organisation.objects.get()
    assert organisation.kind == "company"
    assert organisation.siret == "73282932000074"
    assert Membership.objects.get().role == Membership.Role.COMPANY_ADMIN
    assert JournalEntry.objects.filter(action="account.registered", actor_id=user.pk).exists()
    assert mail.outbox[0].to == ["gaelle.bernard@exemple.fr"]


def test_email_verification_then_login(client, register):
    register()
    response = client.get(verification_link().removeprefix("http://testserver"), follow=True)
    assert "Votre adresse e-mail est confirmée" in text(response)
    assert User.objects.get().email_verified
    assert JournalEntry.objects.filter(action="account.email_verified").exists()
    response = client.post(
        reverse("comptes:login"), {"username": FORM["email"], "password": FORM["password1"]}
    )
    assert response.status_code == 302


def test_unverified_user_cannot_log_in_and_can_ask_a_new_link(
    client, register, django_capture_on_commit_callbacks
):
    register()
    response = client.post(
        reverse("comptes:login"), {"username": FORM["email"], "password": FORM["password1"]}
    )
    assert response.status_code == 403
    assert "n'est pas encore confirmée" in text(response)
    assert "_auth_user_id" not in client.session
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("comptes:resend_verification"), {"email": FORM["email"]})
    assert len(mail.outbox) == 2


def test_tampered_verification_link_is_refused(client, register):
    register()
    link = verification_link().removeprefix("http://testserver")
    response = client.get(link[:-3] + "xx/")
    assert response.status_code == 400
    assert "n'est pas valide" in text(response)
    assert not User.objects.get().email_verified


def test_expired_verification_link(client, settings, register):
    from datetime import timedelta

    register()
    settings.EMAIL_VERIFICATION_MAX_AGE = timedelta(seconds=-1)
    response = client.get(verification_link().removeprefix("http://testserver"))
    assert response.status_code == 410
    assert "a expiré" in text(response)


def test_wrong_siret_is_refused_with_french_message_and_nothing_created(client, register):
    response = register(siret="73282932000075")
    assert response.status_code == 400
    assert "Ce SIRET n'est pas valide" in text(response)
    assert not User.objects.exists()
    assert not Organisation.objects.exists()
    assert not JournalEntry.objects.exists()
    assert mail.outbox == []


def test_duplicate_email_is_refused_case_insensitively(client, register):
    UserFactory(email="gaelle.bernard@exemple.fr")
    response = register(email="GAELLE.BERNARD@exemple.fr")
    assert response.status_code == 400
    assert "Un compte existe déjà avec cette adresse e-mail" in text(response)
    assert User.objects.count() == 1
    assert not Organisation.objects.exists()


@pytest.mark.parametrize("spelling", VARIANTS.values(), ids=VARIANTS.keys())
def test_registration_of_any_spelling_of_an_existing_address_is_refused(client, register, spelling):
    UserFactory(email=ADDRESS)
    response = register(email=spelling)
    assert response.status_code == 400
    assert "Un compte existe déjà avec cette adresse e-mail" in text(response)
    assert User.objects.count() == 1
    assert not Organisation.objects.exists()
    assert mail.outbox == []


@pytest.mark.parametrize("spelling", VARIANTS.values(), ids=VARIANTS.keys())
def test_registration_stores_and_mails_to_the_normal_form(client, register, spelling):
    """The confirmation goes to the normal form, not to the spelling typed: following the
    link proves control of the address stored."""
    register(email=spelling)
    assert User.objects.get().email == ADDRESS
    assert mail.outbox[0].to == [ADDRESS]


@pytest.mark.django_db(transaction=True)
def test_two_registrations_racing_for_one_normal_form_end_in_the_french_refusal():
    """The check before writing cannot see an account still being created: the unique index
    decides, and the loser gets the same French refusal, not an error page."""
    if connection.vendor != "postgresql":
        pytest.skip("an insert waiting on another's uncommitted row: needs PostgreSQL, as in CI")
    from comptes.services import company_register
    from config.errors import ApplicationError

    created, release, outcome = threading.Event(), threading.Event(), {}

    def first():  # creates the account and holds its transaction open
        with transaction.atomic():
            UserFactory(email=ADDRESS)
            created.set()
            release.wait(60)
        connections.close_all()

    def second():
        try:
            company_register(
                email=VARIANTS["long_s"],
                password=FORM["password1"],
                first_name="Gaëlle",
                last_name="Bernard",
                organisation_name="Bernard Menuiserie",
                siret=FORM["siret"],
            )
        except ApplicationError as exc:
            outcome["refused"] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert created.wait(60)
    threads[1].start()
    # Once the second registration waits on the first's row in the unique index, let go.
    for _ in range(600):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
                ['INSERT INTO "comptes_user"%'],
            )
            if cursor.fetchone()[0]:
                break
        time.sleep(0.05)
    else:
        pytest.fail("the second registration never waited on the first")
    release.set()
    for thread in threads:
        thread.join(60)
    assert outcome["refused"].code == "duplicate_email"
    assert "Un compte existe déjà avec cette adresse e-mail" in outcome["refused"].message
    assert list(User.objects.values_list("email", flat=True)) == [ADDRESS]
    assert not Organisation.objects.exists()


def test_already_registered_company_is_refused(client, register):
    OrganisationFactory(siret="73282932000074")
    response = register()
    assert response.status_code == 400
    assert "déjà inscrite avec ce SIRET" in text(response)
    assert not User.objects.exists()


def test_weak_or_mismatched_password(client, register):
    response = register(password1="azerty", password2="azerty")
    assert response.status_code == 400
    assert "trop court" in text(response)
    response = register(password2="autre-mot-de-passe-xx")
    assert "ne correspondent pas" in text(response)
    assert not User.objects.exists()


def test_foreign_company_registers_with_vat(client, register):
    response = register(country="DE", siret="", vat_number="DE136695976")
    assert response.status_code == 200
    organisation = Organisation.objects.get()
    assert (organisation.country.code, organisation.vat_number, organisation.siret) == (
        "DE",
        "DE136695976",
        None,
    )


def test_password_is_hashed_with_argon2_in_real_settings():
    from config.settings import base

    assert base.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
