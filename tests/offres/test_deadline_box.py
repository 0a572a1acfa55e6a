"""The deadline box of a consultation that takes plis, on its public page and on the deposit
page: its DSFR alert level follows the time left (information, then warning under 24 hours
and under an hour, then error under 10 minutes and after), rendered by the server for the
moment of the page; and after the deadline both pages say that a pli sent now is received
« hors délai » and will not be opened, instead of saying plis are no longer accepted."""

import pytest
from django.urls import reverse
from django.utils import timezone

from marches.models import Consultation
from marches.templatetags.marches_format import DEADLINE_STAGES
from tests.helpers import login_as, text

from .pages import deadline_box

pytestmark = pytest.mark.django_db

MINUTE = 60


@pytest.mark.parametrize(
    ("seconds_left", "stage", "level", "words"),
    [
        (3 * 24 * 3600 + 600, "open", "info", "Reste 3 jours"),
        (23 * 3600, "day", "warning", "Moins de 24 heures"),
        (59 * MINUTE, "hour", "warning", "Moins d'une heure : commencez l'envoi maintenant"),
        (9 * MINUTE, "minutes", "error", "Moins de 10 minutes"),
        (30, "minutes", "error", "Reste moins d'une minute"),
        (-MINUTE, "late", "error", "envoyé maintenant est reçu « hors délai »"),
    ],
)
def test_the_box_turns_from_information_to_error_as_the_deadline_nears(
    client, published, bidder_membership, seconds_left, stage, level, words
):
    consultation, _ = published
    Consultation.objects.filter(pk=consultation.pk).update(
        deadline=timezone.now() + timezone.timedelta(seconds=seconds_left)
    )
    login_as(client, bidder_membership.user)
    for url in (
        reverse("marches:detail", args=[consultation.pk]),
        reverse("offres:deposit_new", args=[consultation.pk]),
    ):
        box = deadline_box(client.get(url))
        assert box["level"] == [level], url
        assert box["stage"] == stage, url
        assert words in box["text"], url
        assert "Date limite de remise des plis" in box["text"]


def test_the_script_reads_the_servers_thresholds(client, published):
    consultation, _ = published
    box = deadline_box(client.get(reverse("marches:detail", args=[consultation.pk])))["element"]
    stages = box.get("data-stages").split()
    assert stages[:-1] == [f"{name}:{seconds}:{level}" for name, seconds, level in DEADLINE_STAGES]
    assert stages[-1] == "open::info"
    assert box.get("data-deadline") == consultation.deadline.isoformat()
    assert "marches/deadline.js" in text(client.get(reverse("marches:detail", args=[consultation.pk])))


def test_a_closed_consultation_says_a_pli_sent_now_is_late_on_both_pages(
    client, published, bidder_membership
):
    consultation, _ = published
    Consultation.objects.filter(pk=consultation.pk).update(
        deadline=timezone.now() - timezone.timedelta(minutes=5)
    )
    detail = client.get(reverse("marches:detail", args=[consultation.pk]))
    page = text(detail)
    assert "les plis ne sont plus acceptés" not in page
    box = deadline_box(detail)
    assert (
        "La date limite est passée. Un pli envoyé maintenant est reçu « hors délai » : il est conservé"
        in box["text"]
    )
    assert "il est conservé, comme la loi le demande, mais ne sera pas ouvert." in box["text"]
    # The deposit page still takes it, and the consultation page leads there in those words.
    deposit_url = reverse("offres:deposit_new", args=[consultation.pk])
    assert f'href="{deposit_url}">Déposer un pli hors délai</a>' in page
    login_as(client, bidder_membership.user)
    deposit_page = client.get(deposit_url)
    assert deposit_page.status_code == 200
    assert "Chiffrer et envoyer le pli" in text(deposit_page)
    box = deadline_box(deposit_page)
    assert box["level"] == ["error"]
    assert "envoyé maintenant est reçu « hors délai »" in box["text"]
    assert "ne sera pas ouvert" in box["text"]


def test_after_the_opening_no_pli_is_taken_and_the_page_says_so(client, published):
    consultation, _ = published
    Consultation.objects.filter(pk=consultation.pk).update(
        state=Consultation.State.OPENED, deadline=timezone.now() - timezone.timedelta(days=1)
    )
    page = text(client.get(reverse("marches:detail", args=[consultation.pk])))
    assert "Plis ouverts : les plis ne sont plus acceptés." in page
    assert "Déposer un pli" not in page
    assert 'id="deadline-box"' not in page


def test_on_the_deposit_page_the_countdown_runs_only_with_its_integrity(client, published, bidder_membership):
    """A script on the page where bids are encrypted could read the files chosen: like the
    encryption bundle, the countdown is loaded with its Subresource Integrity."""
    from offres.bundle import bundle_digest

    consultation, _ = published
    login_as(client, bidder_membership.user)
    page = text(client.get(reverse("offres:deposit_new", args=[consultation.pk])))
    [tag] = [tag for tag in page.split("<script")[1:] if "marches/deadline.js" in tag.split(">", 1)[0]]
    assert f'integrity="{bundle_digest("marches/deadline.js").integrity}"' in tag.split(">", 1)[0]
