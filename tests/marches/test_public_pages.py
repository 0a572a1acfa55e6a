"""Public pages of consultations: the home list, the search and its filters, the detail page.
Anyone reads what is published; a draft is a 404 that leaves a journal entry."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from marches import services
from marches.models import Consultation, CpvCode, DceVersion, Lot
from marches.templatetags import marches_format
from marches.views.public import SESSION_IDENTITY
from preuves.models import JournalEntry

from ..factories import ConsultationFactory, OrganisationFactory, add_dce_file
from ..helpers import login_as, text

pytestmark = pytest.mark.django_db

SEARCH = reverse("marches:search")


def _indexed(*consultations):
    """Factories write rows directly; on PostgreSQL the search vector is filled by the
    services, so do what they do."""
    if connection.vendor == "postgresql":
        for consultation in consultations:
            services._refresh_search_vector(consultation)
    return consultations


def _titles(response) -> list[str]:
    return [c.title for c in response.context["page_obj"].object_list]


def _search(client, *, expected: int = 200, **params):
    response = client.get(SEARCH, params)
    assert response.status_code == expected
    return response


# --- Home ---------------------------------------------------------------------------------------


def test_home_lists_the_latest_open_consultations(client):
    old = ConsultationFactory(published=True, title="Ancienne consultation")
    old.published_at = timezone.now() - timedelta(days=20)
    old.save()
    recent = ConsultationFactory.create_batch(10, published=True)
    closed = ConsultationFactory(closed=True, title="Consultation close")
    draft = ConsultationFactory(title="Brouillon secret")
    page = text(client.get(reverse("home")))
    assert "Dernières consultations" in page
    for consultation in recent:
        assert consultation.title in page
        assert consultation.get_absolute_url() in page
    assert recent[0].buyer.name in page
    assert "(heure de Paris)" in page
    assert old.title not in page  # the eleventh is left for the search
    assert closed.title not in page
    assert draft.title not in page
    assert f'href="{SEARCH}"' in page


def test_home_query_count_does_not_grow(client, django_assert_max_num_queries):
    ConsultationFactory.create_batch(2, published=True)
    with django_assert_max_num_queries(2) as few:
        client.get(reverse("home"))
    ConsultationFactory.create_batch(8, published=True)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("home"))
    assert len(response.context["latest_consultations"]) == 10


# --- Search -------------------------------------------------------------------------------------


def test_search_lists_open_consultations_only_by_default(client):
    open_one = ConsultationFactory(published=True, title="Ouverte aux dépôts")
    closed = ConsultationFactory(closed=True, title="Date limite passée")
    awarded = ConsultationFactory(closed=True, title="Déjà attribuée")
    Consultation.objects.filter(pk=awarded.pk).update(state="awarded")
    ConsultationFactory(title="Brouillon invisible")
    archived = ConsultationFactory(closed=True, title="Archivée invisible")
    Consultation.objects.filter(pk=archived.pk).update(state="archived")

    assert _titles(_search(client)) == [open_one.title]

    response = _search(client, include_closed="on")
    assert set(_titles(response)) == {open_one.title, closed.title, awarded.title}
    page = text(response)
    assert "Clôturée" in page
    assert "Attribuée" in page
    assert "Brouillon invisible" not in page
    assert "Archivée invisible" not in page


def test_search_by_keywords(client):
    roof, road = _indexed(
        ConsultationFactory(published=True, title="Réfection de la toiture de la mairie"),
        ConsultationFactory(
            published=True, title="Voirie communale", description="Enrobés de la rue des écoles."
        ),
    )
    assert _titles(_search(client, q="toiture")) == [roof.title]
    assert _titles(_search(client, q="enrobés")) == [road.title]
    assert _titles(_search(client, q="piscine")) == []
    assert "Aucune consultation trouvée" in text(_search(client, q="piscine"))


def test_search_by_cpv_matches_descendants_and_additional_codes(client):
    roof = ConsultationFactory(
        published=True, title="Charpente", cpv_main=CpvCode.objects.get(code="45261000")
    )
    study = ConsultationFactory(
        published=True, title="Étude de structure", cpv_main=CpvCode.objects.get(code="71221000")
    )
    mixed = ConsultationFactory(
        published=True, title="Maîtrise d'œuvre et couverture", cpv_main=CpvCode.objects.get(code="71200000")
    )
    mixed.cpv_additional.add(CpvCode.objects.get(code="45261000"))

    assert set(_titles(_search(client, cpv="45000000"))) == {roof.title, mixed.title}
    assert set(_titles(_search(client, cpv="45260000"))) == {roof.title, mixed.title}
    assert set(_titles(_search(client, cpv="45000000-7"))) == {roof.title, mixed.title}
    assert set(_titles(_search(client, cpv="71000000"))) == {study.title, mixed.title}
    assert set(_titles(_search(client, cpv="71221000"))) == {study.title}

    page = text(_search(client, cpv="45260000"))
    assert "45260000-7 — Travaux de couverture et travaux d'autres corps de métier spécialisés" in page


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("12345678", "Le code CPV 12345678 n'existe pas dans la nomenclature CPV 2008."),
        ("45000000-3", "Le chiffre de contrôle de 45000000 est 7, pas 3"),
        ("bâtiment", "n'est pas un code CPV"),
    ],
)
def test_bad_cpv_is_a_french_form_error(client, value, message):
    ConsultationFactory(published=True)
    response = _search(client, expected=400, cpv=value)
    page = text(response)
    assert message in page
    assert "La recherche n'a pas pu être faite" in page
    assert response.context["page_obj"] is None


def test_search_filters_nature_procedure_departement_buyer(client):
    buyer = OrganisationFactory(buyer=True, name="Ville de Rennes")
    works = ConsultationFactory(published=True, title="Travaux", buyer=buyer)
    services_ = ConsultationFactory(
        published=True,
        title="Nettoyage",
        nature="services",
        procedure="open",
        place_code="2A004",
        departement="2A",
        cpv_main=CpvCode.objects.get(code="71200000"),
    )
    assert _titles(_search(client, nature="services")) == [services_.title]
    assert _titles(_search(client, nature="works")) == [works.title]
    assert _titles(_search(client, procedure="open")) == [services_.title]
    assert _titles(_search(client, departement="2A")) == [services_.title]
    assert _titles(_search(client, departement="35")) == [works.title]
    assert _titles(_search(client, buyer=buyer.pk)) == [works.title]
    # Combined filters narrow down.
    assert _titles(_search(client, nature="services", departement="35")) == []


def test_buyer_select_lists_only_buyers_with_public_consultations(client):
    public = ConsultationFactory(published=True).buyer
    only_draft = ConsultationFactory().buyer
    response = _search(client)
    choices = list(response.context["form"].fields["buyer"].queryset)
    assert choices == [public]
    assert only_draft.name not in text(response)
    page = text(_search(client, expected=400, buyer=only_draft.pk))
    assert "Cet acheteur n'a publié aucune consultation." in page


def test_search_by_deadline_range(client):
    now = timezone.now()
    soon = ConsultationFactory(published=True, title="Bientôt", deadline=now + timedelta(days=5))
    later = ConsultationFactory(published=True, title="Plus tard", deadline=now + timedelta(days=40))
    day = timezone.localdate(soon.deadline)
    assert _titles(_search(client, deadline_to=day.isoformat())) == [soon.title]
    assert _titles(_search(client, deadline_from=(day + timedelta(days=1)).isoformat())) == [later.title]
    assert _titles(_search(client, deadline_from=day.isoformat(), deadline_to=day.isoformat())) == [
        soon.title
    ]
    # People may type a French date.
    assert _titles(_search(client, deadline_to=day.strftime("%d/%m/%Y"))) == [soon.title]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"nature": "magie"}, "Sélectionnez un choix valide"),
        ({"procedure": "gré à gré"}, "Sélectionnez un choix valide"),
        ({"departement": "20"}, "Sélectionnez un choix valide"),
        ({"buyer": "abc"}, "Cet acheteur n'a publié aucune consultation."),
        ({"deadline_from": "demain"}, "Saisissez une date valide"),
        ({"deadline_from": "2026-12-10", "deadline_to": "2026-12-01"}, "postérieure ou égale"),
        ({"sort": "hasard"}, "Sélectionnez un choix valide"),
    ],
)
def test_invalid_filters_are_french_form_errors(client, params, message):
    ConsultationFactory(published=True)
    response = _search(client, expected=400, **params)
    assert message in text(response)
    assert response.context["page_obj"] is None


def test_pagination_20_per_page(client):
    now = timezone.now()
    for i in range(25):
        ConsultationFactory(
            published=True, title=f"Consultation {i:02d}", deadline=now + timedelta(days=i + 1)
        )
    first = _search(client)
    assert _titles(first) == [f"Consultation {i:02d}" for i in range(20)]
    page = text(first)
    assert "25 consultations trouvées" in page
    assert 'class="fr-pagination"' in page
    assert "page=2" in page
    second = _search(client, page=2)
    assert _titles(second) == [f"Consultation {i:02d}" for i in range(20, 25)]
    # Filters survive in the pagination links.
    assert "nature=works" in text(_search(client, nature="works"))
    assert re.search(r'href="\?[^"]*nature=works[^"]*page=2', text(_search(client, nature="works")))
    # A page out of range shows the last page rather than an error.
    assert _titles(_search(client, page=99)) == _titles(second)


def test_sort_orders(client):
    now = timezone.now()
    a = ConsultationFactory(published=True, title="A", deadline=now + timedelta(days=3))
    b = ConsultationFactory(published=True, title="B", deadline=now + timedelta(days=1))
    c = ConsultationFactory(published=True, title="C", deadline=now + timedelta(days=2))
    for consultation, days in ((a, 1), (b, 3), (c, 2)):
        consultation.published_at = now - timedelta(days=days)
        consultation.save()
    ConsultationFactory(closed=True, title="Z", deadline=now - timedelta(days=10))
    ConsultationFactory(closed=True, title="Y", deadline=now - timedelta(hours=2))

    assert _titles(_search(client)) == ["B", "C", "A"]
    assert _titles(_search(client, sort="deadline")) == ["B", "C", "A"]
    assert _titles(_search(client, sort="recent")) == ["A", "C", "B"]
    # Open ones first (closest deadline first), then the most recently closed.
    assert _titles(_search(client, include_closed="on")) == ["B", "C", "A", "Y", "Z"]


def test_relevance_is_the_default_with_keywords(client):
    _indexed(
        ConsultationFactory(published=True, title="Toiture du gymnase"),
        ConsultationFactory(published=True, title="Toiture et toiture-terrasse de l'école, toiture"),
    )
    response = _search(client, q="toiture")
    assert response.context["form"].effective_sort == "relevance"
    assert re.search(r'<option value="relevance" selected>', text(response))
    assert len(_titles(response)) == 2
    # Without keywords, relevance means nothing: the closest deadline applies.
    response = _search(client, sort="relevance")
    assert response.context["form"].effective_sort == "deadline"
    assert re.search(r'<option value="deadline" selected>', text(response))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="ranking needs PostgreSQL text search")
def test_relevance_ranks_better_matches_first_on_postgresql(client):
    weak, strong = _indexed(
        ConsultationFactory(published=True, title="Entretien des espaces verts", description="Toiture."),
        ConsultationFactory(published=True, title="Toiture de l'église", description="Toiture en ardoise."),
    )
    assert _titles(_search(client, q="toiture")) == [strong.title, weak.title]


def test_search_query_count_does_not_grow(client, django_assert_max_num_queries):
    def batch(n):
        for _ in range(n):
            c = ConsultationFactory(published=True, cpv_main=CpvCode.objects.get(code="45261000"))
            c.cpv_additional.add(CpvCode.objects.get(code="45260000"))

    batch(3)
    params = {"cpv": "45000000", "nature": "works", "include_closed": "on"}
    with django_assert_max_num_queries(6) as few:
        client.get(SEARCH, params)
    batch(12)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(SEARCH, params)
    assert len(_titles(response)) == 15


def test_search_page_links_the_feed(client):
    page = text(_search(client))
    assert re.search(
        r'<link rel="alternate"\s+type="application/atom\+xml"[^>]*href="/consultations/flux.atom"', page
    )


# --- Detail -------------------------------------------------------------------------------------


@pytest.fixture
def full_consultation():
    now = timezone.now()
    consultation = ConsultationFactory(
        published=True,
        reference="2026-TX-042",
        title="Rénovation énergétique du groupe scolaire",
        description="Isolation par l'extérieur.\nRemplacement des menuiseries.",
        procedure="open",
        place_code="35238",
        deadline=now + timedelta(days=3, hours=4, minutes=30),
        questions_deadline=now + timedelta(days=1),
        variants_allowed=True,
        two_step_opening=True,
        estimated_value=Decimal("1250000.00"),
        contact_phone="02 99 00 00 00",
        with_lots=True,
        dce={"RC.pdf": b"%PDF reglement", "Pieces/CCTP.pdf": b"%PDF cctp"},
    )
    consultation.cpv_additional.add(CpvCode.objects.get(code="71221000"))
    Lot.objects.filter(consultation=consultation, number=2).update(cpv=CpvCode.objects.get(code="45260000"))
    return consultation


def test_detail_shows_what_a_bidder_needs(client, full_consultation):
    c = full_consultation
    version = c.dce_versions.get()
    clean = add_dce_file(version, "Plans/plan.dwg", b"plan", scan_status="clean")
    response = client.get(c.get_absolute_url())
    assert response.status_code == 200
    page = text(response)
    for expected in [
        c.title,
        c.buyer.name,
        "2026-TX-042",
        "Isolation par l'extérieur.",
        "Travaux",
        "Appel d'offres ouvert",
        "45261000-4",
        "Travaux de charpente et de couverture et travaux connexes",
        "71221000-3",
        "Services d'architecte pour les bâtiments",
        "Commune 35238 (code INSEE)",
        "département 35",
        "1\u00a0250\u00a0000\u00a0€\u00a0HT",  # non-breaking spaces, as French typography asks
        "(heure de Paris)",
        "Reste 3 jours et 4 heures.",
        "Autorisées",
        "En deux temps",
        "500 Mo",
        "Service de la commande publique",
        "marches@commune.example.fr",
        "02 99 00 00 00",
        "Publiée",
        # Lots
        "Couverture",
        "Isolation",
        "70\u00a0000\u00a0€\u00a0HT",
        "45260000-7",
        # DCE
        "Version 1 publiée le",
        "Pieces/CCTP.pdf",
        "RC.pdf",
        clean.sha256,
        "Analysé, sain",
        "Non analysé",
        "Télécharger tout le DCE (zip,",
        "libre, gratuit et anonyme",
    ]:
        assert expected in page, expected
    deadline = timezone.localtime(c.deadline)
    assert f"{deadline:%H:%M} (heure de Paris)" in page
    assert reverse("marches:zip_download", args=[c.pk, 1]) in page
    assert reverse("marches:file_download", args=[c.pk, clean.pk]) in page
    assert reverse("marches:download_identify", args=[c.pk]) in page
    assert "<caption>Lots de la consultation 2026-TX-042</caption>" in page


def test_detail_of_a_closed_consultation_says_so(client):
    c = ConsultationFactory(closed=True)
    page = text(client.get(c.get_absolute_url()))
    assert "Clôturée" in page
    # A late pli is still taken (kept, never opened), and the page says so.
    assert "les plis ne sont plus acceptés" not in page
    assert "envoyé maintenant est reçu « hors délai »" in page
    assert "La date limite est passée." in page
    assert "reste" not in page
    # The DCE stays public after the deadline.
    assert "Télécharger tout le DCE" in page


def test_detail_lists_earlier_versions(client):
    c = ConsultationFactory(published=True)
    v2 = DceVersion.objects.create(
        consultation=c,
        number=2,
        created_by=c.created_by,
        published_at=timezone.now(),
        note="Précision du CCTP",
    )
    add_dce_file(v2, "RC.pdf", b"%PDF reglement v2")
    DceVersion.objects.create(consultation=c, number=3, created_by=c.created_by)  # working copy
    page = text(client.get(c.get_absolute_url()))
    assert "Version 2 publiée le" in page
    assert "Précision du CCTP" in page
    assert "Versions précédentes du DCE" in page
    assert reverse("marches:zip_download", args=[c.pk, 1]) in page
    assert reverse("marches:zip_download", args=[c.pk, 2]) in page
    assert reverse("marches:zip_download", args=[c.pk, 3]) not in page
    assert "Version 3" not in page


@pytest.mark.parametrize("state", ["draft", "archived"])
def test_non_public_consultation_is_404_and_journaled(client, state):
    c = ConsultationFactory(published=state != "draft")
    Consultation.objects.filter(pk=c.pk).update(state=state)
    assert client.get(c.get_absolute_url()).status_code == 404
    entry = JournalEntry.objects.get(action="access.denied")
    assert entry.payload["model"] == "marches.consultation"
    assert entry.payload["path"] == c.get_absolute_url()
    assert client.get(reverse("marches:download_identify", args=[c.pk])).status_code == 404


def test_unknown_consultation_is_404_without_journal(client):
    assert client.get(reverse("marches:detail", args=[999_999])).status_code == 404
    assert not JournalEntry.objects.filter(action="access.denied").exists()


def test_detail_query_count_does_not_grow(client, django_assert_max_num_queries):
    small = ConsultationFactory(published=True, with_lots=True)
    small.lots.update(cpv=CpvCode.objects.get(code="45261000"))
    with django_assert_max_num_queries(8) as few:
        client.get(small.get_absolute_url())
    big = ConsultationFactory(
        published=True, with_lots=True, dce={f"doc{i}.pdf": b"x" * i for i in range(1, 13)}
    )
    cpv = CpvCode.objects.get(code="45260000")
    for i in range(3, 10):
        Lot.objects.create(
            consultation=big, number=i, title=f"Lot {i}", estimated_value=Decimal(1000), cpv=cpv
        )
    big.cpv_additional.add(*CpvCode.objects.filter(code__startswith="4526")[:5])
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(big.get_absolute_url())
    assert "doc12.pdf" in text(response)


# --- Identification before download --------------------------------------------------------------


def test_identify_keeps_name_and_email_in_the_session(client):
    c = ConsultationFactory(published=True)
    url = reverse("marches:download_identify", args=[c.pk])
    assert "Nom et prénom" in text(client.get(url))
    response = client.post(
        url, {"name": " Jeanne  Martin ", "email": "jeanne@toitures.fr", "company_name": "Toitures SA"}
    )
    assert response.status_code == 302
    assert response["Location"] == c.get_absolute_url() + "#dce"
    assert client.session[SESSION_IDENTITY] == {
        "name": "Jeanne Martin",
        "email": "jeanne@toitures.fr",
        "company_name": "Toitures SA",
    }
    page = text(client.get(c.get_absolute_url()))
    assert "au nom de Jeanne Martin (jeanne@toitures.fr)" in page
    # Identifying records nothing by itself: only downloads do.
    assert not c.downloads.exists()

    client.post(url, {"forget": "1"})
    assert SESSION_IDENTITY not in client.session
    assert "au nom de Jeanne Martin" not in text(client.get(c.get_absolute_url()))


def test_identify_refuses_a_bad_email_in_french(client):
    c = ConsultationFactory(published=True)
    url = reverse("marches:download_identify", args=[c.pk])
    response = client.post(url, {"name": "Jeanne", "email": "pas-une-adresse"})
    assert response.status_code == 200
    assert "Saisissez une adresse e-mail valide." in text(response)
    assert SESSION_IDENTITY not in client.session
    response = client.post(url, {"name": "   ", "email": "jeanne@toitures.fr"})
    assert "Ce champ est obligatoire." in text(response)
    assert SESSION_IDENTITY not in client.session


def test_logged_in_user_is_told_downloads_are_recorded(client, company_admin):
    c = ConsultationFactory(published=True)
    login_as(client, company_admin.user)
    page = text(client.get(c.get_absolute_url()))
    assert f"au nom de {company_admin.user.get_full_name()} ({company_admin.user.email})" in page
    assert "M'identifier pour ce téléchargement" not in page


# --- Formatting -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (0, "0 octet"),
        (820, "820 octets"),
        (1536, "1,5 ko"),
        (500 * 1024**2, "500 Mo"),
        (int(1.25 * 1024**3), "1,2 Go"),
        (2 * 1024**3, "2 Go"),
        (150_400 * 1024, "147 Mo"),
    ],
)
def test_human_size(size, expected):
    assert marches_format.human_size(size) == expected


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(days=3, hours=4, minutes=59), "reste 3 jours et 4 heures"),
        (timedelta(days=1, minutes=5), "reste 1 jour"),
        (timedelta(hours=1, minutes=1), "reste 1 heure et 1 minute"),
        (timedelta(minutes=12, seconds=3), "reste 12 minutes"),
        (timedelta(seconds=20), "reste moins d'une minute"),
        (timedelta(0), "Clôturée"),
        (-timedelta(days=2), "Clôturée"),
    ],
)
def test_time_left(delta, expected):
    now = timezone.now()
    assert marches_format.time_left(now + delta, now) == expected


def test_deadline_is_read_in_paris_time_whatever_the_active_zone():
    moment = datetime(2026, 12, 14, 11, 0, tzinfo=UTC)
    with timezone.override("America/Cayenne"):
        assert marches_format.paris_datetime(moment) == "lundi 14 décembre 2026 à 12:00 (heure de Paris)"
    summer = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    assert marches_format.paris_datetime(summer) == "mercredi 1er juillet 2026 à 12:00 (heure de Paris)"


@pytest.mark.parametrize(
    "query",
    ["deadline_to=9999-12-31", "deadline_from=0001-01-01", "deadline_from=2027-13-45", "departement=999"],
)
def test_a_refused_search_filter_is_a_french_400_beside_its_field(db, client, query):
    """The search page never overflows: a date out of range is refused, named, with a 400."""
    response = client.get(f"/consultations/?{query}")
    assert response.status_code == 400
    form = response.context["form"]
    field = query.split("=")[0]
    assert form.errors[field]
    assert response.context["page_obj"] is None
