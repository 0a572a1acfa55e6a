import pyotp
import pytest
from django.core.management import call_command
from django.urls import reverse

from comptes.models import Membership, Organisation, User
from demo.management.commands.demo import DEMO_PASSWORD, demo_totp_secret
from preuves import journal

pytestmark = pytest.mark.django_db


def test_demo_is_idempotent_and_prints_credentials(capsys):
    call_command("demo")
    first = capsys.readouterr().out
    counts = (Organisation.objects.count(), User.objects.count(), Membership.objects.count())
    call_command("demo")
    assert capsys.readouterr().out == first
    assert (Organisation.objects.count(), User.objects.count(), Membership.objects.count()) == counts
    assert DEMO_PASSWORD in first
    assert demo_totp_secret("agent@demoville.demo") in first
    assert Organisation.objects.buyers().filter(name="Ville de Démoville").exists()
    assert Organisation.objects.companies().count() == 2
    roles = Membership.objects.filter(organisation__name="Ville de Démoville").values_list("role", flat=True)
    assert sorted(roles) == ["buyer_admin", "buyer_agent"] + ["commission_member"] * 3
    assert User.objects.filter(memberships__organisation__kind="company").count() == 3
    assert journal.verify().ok


def test_person_logs_in_with_printed_demo_credentials(client):
    call_command("demo")
    client.post(reverse("comptes:login"), {"username": "agent@demoville.demo", "password": DEMO_PASSWORD})
    response = client.post(
        reverse("comptes:login_code"), {"code": pyotp.TOTP(demo_totp_secret("agent@demoville.demo")).now()}
    )
    assert response.status_code == 302
    assert client.get(reverse("comptes:account")).status_code == 200
