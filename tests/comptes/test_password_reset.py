import re

import pytest
from django.core import mail
from django.urls import reverse

from preuves.models import JournalEntry
from tests.factories import PASSWORD, UserFactory
from tests.helpers import text

from .spellings import ADDRESS, VARIANTS

pytestmark = pytest.mark.django_db
NEW = "un-nouveau-mot-de-passe-solide"


def reset_link() -> str:
    return re.search(r"http://testserver(/comptes/mot-de-passe/nouveau/\S+/)", mail.outbox[-1].body).group(1)


def test_reset_sets_new_password_lifts_lockout_and_is_journaled(client, settings):
    user = UserFactory()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("comptes:login"), {"username": user.email, "password": "mauvais"})
    response = client.post(reverse("comptes:password_reset"), {"email": user.email.upper()})
    assert response.url == reverse("comptes:password_reset_done")
    assert mail.outbox[-1].to == [user.email]
    confirm = client.get(reset_link(), follow=True)  # Django swaps the token for a session marker
    response = client.post(confirm.redirect_chain[-1][0], {"new_password1": NEW, "new_password2": NEW})
    assert response.url == reverse("comptes:password_reset_complete")
    user.refresh_from_db()
    assert user.check_password(NEW)
    assert JournalEntry.objects.filter(action="auth.password_reset", actor_id=user.pk).exists()
    assert JournalEntry.objects.filter(action="auth.password_reset_requested").exists()
    response = client.post(reverse("comptes:login"), {"username": user.email, "password": NEW})
    assert response.status_code == 302


def test_unknown_address_gets_the_same_answer_and_no_mail(client):
    response = client.post(reverse("comptes:password_reset"), {"email": "inconnu@exemple.fr"})
    assert response.url == reverse("comptes:password_reset_done")
    assert mail.outbox == []


def test_link_works_once(client):
    user = UserFactory()
    client.post(reverse("comptes:password_reset"), {"email": user.email})
    link = reset_link()
    confirm = client.get(link, follow=True)
    client.post(confirm.redirect_chain[-1][0], {"new_password1": NEW, "new_password2": NEW})
    response = client.get(link, follow=True)
    assert "Ce lien n'est plus valable" in text(response)
    user.refresh_from_db()
    assert not user.check_password(PASSWORD)


@pytest.mark.parametrize("spelling", VARIANTS.values(), ids=VARIANTS.keys())
def test_reset_in_any_spelling_mails_the_stored_address_and_lifts_the_lockout(client, settings, spelling):
    user = UserFactory(email=ADDRESS)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("comptes:login"), {"username": spelling, "password": "mauvais"})
    assert (
        client.post(reverse("comptes:login"), {"username": ADDRESS, "password": PASSWORD}).status_code == 429
    )
    client.post(reverse("comptes:password_reset"), {"email": spelling})
    assert mail.outbox[-1].to == [ADDRESS]
    confirm = client.get(reset_link(), follow=True)
    client.post(confirm.redirect_chain[-1][0], {"new_password1": NEW, "new_password2": NEW})
    response = client.post(reverse("comptes:login"), {"username": spelling, "password": NEW})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)
