"""The Atom feed of the latest published consultations."""

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from marches.feeds import FEED_SIZE
from marches.models import Consultation

from ..factories import ConsultationFactory, OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db

FEED = reverse("marches:feed")
ATOM = "{http://www.w3.org/2005/Atom}"


def _feed(client):
    response = client.get(FEED)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    root = ET.fromstring(response.content)  # noqa: S314 (our own output; raises unless well-formed)
    assert root.tag == f"{ATOM}feed"
    return root


def test_feed_lists_published_consultations_newest_first(client):
    now = timezone.now()
    older = ConsultationFactory(published=True, title="Plus ancienne", reference="A-1")
    newer = ConsultationFactory(published=True, title="Plus récente", reference="A-2")
    closed = ConsultationFactory(closed=True, title="Clôturée")
    Consultation.objects.filter(pk=older.pk).update(published_at=now - timedelta(days=5))
    Consultation.objects.filter(pk=newer.pk).update(published_at=now - timedelta(hours=1))
    ConsultationFactory(title="Brouillon secret")

    root = _feed(client)
    assert root.find(f"{ATOM}title").text.endswith("dernières consultations publiées")
    entries = root.findall(f"{ATOM}entry")
    titles = [entry.find(f"{ATOM}title").text for entry in entries]
    assert titles == ["Plus récente (A-2)", "Plus ancienne (A-1)", f"Clôturée ({closed.reference})"]
    assert "Brouillon secret" not in ET.tostring(root, encoding="unicode")

    first = entries[0]
    newer.refresh_from_db()
    assert first.find(f"{ATOM}link").get("href") == "http://testserver" + newer.get_absolute_url()
    summary = first.find(f"{ATOM}summary").text
    assert newer.buyer.name in summary
    assert "Date limite de remise des plis" in summary
    assert "(heure de Paris)" in summary
    assert first.find(f"{ATOM}author/{ATOM}name").text == newer.buyer.name
    updated = datetime.fromisoformat(first.find(f"{ATOM}updated").text)
    assert updated == newer.published_at
    # The feed's own date is its newest entry's.
    assert datetime.fromisoformat(root.find(f"{ATOM}updated").text) == updated


def test_feed_keeps_the_50_latest(client):
    buyer = OrganisationFactory(buyer=True)
    author = UserFactory()
    ConsultationFactory.create_batch(FEED_SIZE + 2, published=True, buyer=buyer, created_by=author, dce={})
    assert FEED_SIZE == 50
    assert len(_feed(client).findall(f"{ATOM}entry")) == 50


def test_feed_query_count_does_not_grow(client, django_assert_max_num_queries):
    ConsultationFactory.create_batch(2, published=True)
    with django_assert_max_num_queries(2) as few:
        client.get(FEED)
    ConsultationFactory.create_batch(10, published=True)
    with django_assert_max_num_queries(len(few.captured_queries)):
        root = _feed(client)
    assert len(root.findall(f"{ATOM}entry")) == 12
