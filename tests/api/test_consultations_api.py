"""The consultations API: the public search, pages and documents, and a buyer's consultations
(create, edit, add DCE files, publish) with a personal token or a second-factor session."""

import io
import zipfile
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from comptes.services import api_token_create
from marches import services
from marches.models import CommissionSeat, Consultation, CpvCode, DceFile, DceVersion, Lot
from preuves.models import JournalEntry
from tests.factories import ConsultationFactory, MembershipFactory, OrganisationFactory, add_dce_file
from tests.helpers import login_as

pytestmark = pytest.mark.django_db

LIST = "/api/v1/consultations/"
BUYER_LIST = "/api/v1/buyer/consultations/"
ERROR_KEYS = {"code", "message", "details"}
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def bearer(secret: str) -> dict:
    return {"authorization": f"Bearer {secret}"}


def token_for(user) -> dict:
    return bearer(api_token_create(user=user, name="api")[1])


def detail_url(pk: int) -> str:
    return f"/api/v1/consultations/{pk}/"


def buyer_url(pk: int, action: str = "") -> str:
    return f"/api/v1/buyer/consultations/{pk}/" + (f"{action}/" if action else "")


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["results"]]


def error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == ERROR_KEYS
    assert body["error"]["code"] == code
    return body["error"]


def denials() -> list[dict]:
    return list(JournalEntry.objects.filter(action="access.denied").values("actor_id", "payload"))


def indexed(*consultations: Consultation) -> None:
    """Full-text index as the services keep it (the factory builds rows directly; PostgreSQL
    searches the index, SQLite the columns)."""
    for consultation in consultations:
        services._refresh_search_vector(consultation)


def full_code(code: str) -> str:
    return CpvCode.objects.get(code=code).full_code


def post_json(client: Client, url: str, data: dict, headers: dict):
    return client.post(url, data=data, content_type="application/json", headers=headers)


def patch_json(client: Client, url: str, data: dict, headers: dict):
    return client.patch(url, data=data, content_type="application/json", headers=headers)


# --- Public list ------------------------------------------------------------------------------


def test_list_shows_open_consultations_with_their_fields():
    open_ = ConsultationFactory(published=True, with_lots=True, buyer__name="Commune de Demoville")
    ConsultationFactory(closed=True)
    ConsultationFactory()  # draft
    ConsultationFactory(published=True, state="archived")
    response = Client().get(LIST)
    assert ids(response) == [open_.pk]
    body = response.json()
    assert body["count"] == 1
    assert body["next"] is None
    assert body["previous"] is None
    item = body["results"][0]
    assert item == {
        "id": open_.pk,
        "reference": open_.reference,
        "title": open_.title,
        "buyer": {"id": open_.buyer_id, "name": "Commune de Demoville", "siret": open_.buyer.siret},
        "nature": "works",
        "nature_label": "Travaux",
        "procedure": {"code": "adapted", "label": "Procédure adaptée"},
        "cpv_main": {
            "code": "45261000",
            "check_digit": "4",
            "label": "Travaux de charpente et de couverture et travaux connexes",
        },
        "departement": "35",
        "deadline": item["deadline"],
        "state": "published",
        "state_label": "Publiée",
        "published_at": item["published_at"],
        "url": f"{settings.SITE_URL}/consultations/{open_.pk}/",
        "lots_count": 2,
    }
    deadline = datetime.fromisoformat(item["deadline"])
    assert deadline == open_.deadline
    assert deadline.utcoffset() in (timedelta(hours=1), timedelta(hours=2))  # Paris time, stated
    assert datetime.fromisoformat(item["published_at"]) == open_.published_at


def test_include_closed_lists_every_public_consultation_with_its_current_state():
    open_ = ConsultationFactory(published=True)
    closed = ConsultationFactory(closed=True)  # recorded as published, deadline passed
    ConsultationFactory()
    response = Client().get(LIST, {"include_closed": "true"})
    assert ids(response) == [open_.pk, closed.pk]
    assert [item["state"] for item in response.json()["results"]] == ["published", "closed"]
    assert response.json()["results"][1]["state_label"] == "Clôturée"


def test_authenticated_callers_may_search_too(company_admin):
    consultation = ConsultationFactory(published=True)
    assert ids(Client().get(LIST, headers=token_for(company_admin.user))) == [consultation.pk]
    assert error(Client().get(LIST, headers=bearer("faux")), 401, "authentication_failed")


def test_filters():
    now = timezone.now()
    roof = ConsultationFactory(
        published=True, title="Réfection de la toiture de la mairie", deadline=now + timedelta(days=10)
    )
    it = ConsultationFactory(
        published=True,
        title="Maintenance du parc informatique",
        description="Postes de travail et serveurs.",
        nature="services",
        procedure="open",
        cpv_main=CpvCode.objects.get(code="72000000"),
        place_code="75056",
        departement="75",
        deadline=now + timedelta(days=40),
    )
    mixed = ConsultationFactory(
        published=True,
        title="Mission de maîtrise d'oeuvre",
        description="Études.",
        nature="services",
        cpv_main=CpvCode.objects.get(code="71000000"),
        deadline=now + timedelta(days=60),
    )
    mixed.cpv_additional.add(CpvCode.objects.get(code="45261210"))
    indexed(roof, it, mixed)
    day = timezone.localdate

    def search(**params):
        return sorted(ids(Client().get(LIST, params)))

    assert search(q="toiture") == [roof.pk]
    assert search(q="informatique serveurs") == [it.pk]
    assert search(cpv="45000000") == sorted([roof.pk, mixed.pk])  # descendants, main or additional
    assert search(cpv=full_code("45000000")) == sorted([roof.pk, mixed.pk])
    assert search(cpv="45261210") == [mixed.pk]
    assert search(cpv="72000000-5") == [it.pk]
    assert search(nature="services") == sorted([it.pk, mixed.pk])
    assert search(procedure="open") == [it.pk]
    assert search(departement="75") == [it.pk]
    assert search(buyer=it.buyer_id) == [it.pk]
    assert search(deadline_after=day(now + timedelta(days=40)).isoformat()) == sorted([it.pk, mixed.pk])
    assert search(deadline_before=day(now + timedelta(days=40)).isoformat()) == sorted([roof.pk, it.pk])
    assert search(
        deadline_after=day(now + timedelta(days=20)).isoformat(),
        deadline_before=day(now + timedelta(days=50)).isoformat(),
    ) == [it.pk]
    assert search(nature="services", departement="35") == [mixed.pk]


def test_ordering_as_on_the_search_page():
    now = timezone.now()

    def published(days_ago: int, deadline_in: int):
        return ConsultationFactory(
            published=True,
            published_at=now - timedelta(days=days_ago),
            deadline=now + timedelta(days=deadline_in),
        )

    soon, late, middle = published(5, 10), published(1, 30), published(3, 20)
    recently_closed = ConsultationFactory(closed=True, deadline=now - timedelta(hours=1))
    long_closed = ConsultationFactory(closed=True, deadline=now - timedelta(days=5))
    by_deadline = [soon.pk, middle.pk, late.pk]
    assert ids(Client().get(LIST)) == by_deadline  # the closest deadline first, by default
    assert ids(Client().get(LIST, {"ordering": "deadline"})) == by_deadline
    assert ids(Client().get(LIST, {"ordering": "-published_at"})) == [late.pk, middle.pk, soon.pk]
    assert ids(Client().get(LIST, {"ordering": "relevance"})) == by_deadline  # no words: deadline
    # With the closed ones: those still open first, then the most recently closed.
    assert ids(Client().get(LIST, {"include_closed": "true"})) == [
        *by_deadline,
        recently_closed.pk,
        long_closed.pk,
    ]


def test_relevance_ordering():
    now = timezone.now()
    strong = ConsultationFactory(
        published=True,
        published_at=now - timedelta(days=5),
        deadline=now + timedelta(days=40),
        title="Toiture de la mairie",
        description="Réfection complète de la toiture.",
    )
    weak = ConsultationFactory(
        published=True,
        published_at=now - timedelta(days=1),
        deadline=now + timedelta(days=20),
        title="Entretien des bâtiments communaux",
        description="Petites réparations, dont la toiture du préau.",
    )
    ConsultationFactory(published=True, title="Fournitures de bureau", description="Papier.")
    indexed(*Consultation.objects.all())
    found = ids(Client().get(LIST, {"q": "toiture"}))  # relevance by default with q
    assert found == ids(Client().get(LIST, {"q": "toiture", "ordering": "relevance"}))
    if connection.vendor == "postgresql":
        assert found == [strong.pk, weak.pk]
    else:  # no ranking on SQLite: every match ranks the same, the closest deadline first
        assert found == [weak.pk, strong.pk]
    assert ids(Client().get(LIST, {"q": "toiture", "ordering": "-published_at"})) == [weak.pk, strong.pk]
    assert ids(Client().get(LIST, {"q": "toiture", "ordering": "deadline"})) == [weak.pk, strong.pk]


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"cpv": "99999999"}, "cpv", "n'existe pas dans la nomenclature CPV"),
        ({"cpv": "45000000-1"}, "cpv", "Le chiffre de contrôle de 45000000 est 7, pas 1"),
        ({"cpv": "travaux"}, "cpv", "n'est pas un code CPV"),
        ({"departement": "99"}, "departement", "n'est pas un numéro de département"),
        ({"nature": "bricolage"}, "nature", "n'est pas un choix valide"),
        ({"deadline_after": "14/12/2026"}, "deadline_after", "format"),
        ({"ordering": "title"}, "ordering", "n'est pas un choix valide"),
        ({"page_size": "101"}, "page_size", "100"),
        (
            {"deadline_after": "2026-12-31", "deadline_before": "2026-12-01"},
            "deadline_before",
            "postérieure",
        ),
    ],
)
def test_bad_filters_are_refused_in_french(params, field, words):
    ConsultationFactory(published=True)
    body = error(Client().get(LIST, params), 400, "validation")
    assert field in body["details"]
    assert words in body["message"]
    assert words in " ".join(body["details"][field])


def test_a_buyer_with_nothing_public_is_a_404_that_says_so():
    # The schema cannot list the buyers: an id of none is a missing resource, not bad input.
    ConsultationFactory(published=True)
    body = error(Client().get(LIST, {"buyer": "999999"}), 404, "not_found")
    assert body["details"] == {"buyer": ["Cet acheteur n'a publié aucune consultation."]}


def test_pagination():
    for _ in range(25):
        ConsultationFactory(published=True)
    client = Client()
    first = client.get(LIST, {"page_size": 10}).json()
    assert first["count"] == 25
    assert len(first["results"]) == 10
    assert first["previous"] is None
    assert "page=2" in first["next"]
    assert "page_size=10" in first["next"]
    second = client.get(first["next"]).json()
    third = client.get(second["next"]).json()
    assert len(third["results"]) == 5
    assert third["next"] is None
    seen = [item["id"] for page in (first, second, third) for item in page["results"]]
    assert sorted(seen) == sorted(Consultation.objects.values_list("pk", flat=True))
    assert len(client.get(LIST).json()["results"]) == 20  # default page size
    assert len(client.get(LIST, {"page_size": 100}).json()["results"]) == 25
    error(client.get(LIST, {"page": 9}), 404, "not_found")


@pytest.mark.parametrize("rows", [3, 15])
def test_list_query_count(rows, django_assert_max_num_queries):
    for i in range(rows):
        consultation = ConsultationFactory(published=True, with_lots=i % 2 == 0)
        consultation.cpv_additional.add(CpvCode.objects.get(code="45261210"))
        indexed(consultation)
    with django_assert_max_num_queries(3):  # the CPV code, count, page
        assert len(ids(Client().get(LIST, {"q": "toiture", "cpv": "45000000"}))) == rows


@pytest.mark.parametrize("rows", [3, 15])
def test_list_query_count_with_a_token(rows, company_admin, django_assert_max_num_queries):
    headers = token_for(company_admin.user)
    for _ in range(rows):
        ConsultationFactory(published=True, with_lots=True)
    with django_assert_max_num_queries(4):  # token, its last use, count, page
        assert len(ids(Client().get(LIST, {"include_closed": "true"}, headers=headers))) == rows


# --- Public detail and documents -----------------------------------------------------------------


def test_detail():
    consultation = ConsultationFactory(
        published=True,
        with_lots=True,
        variants_allowed=True,
        questions_deadline=timezone.now() + timedelta(days=20),
        contact_phone="02 99 00 00 00",
    )
    consultation.cpv_additional.add(CpvCode.objects.get(code="45261210"))
    Lot.objects.filter(consultation=consultation, number=1).update(cpv="45261210")
    response = Client().get(detail_url(consultation.pk))
    assert response.status_code == 200
    data = response.json()
    assert data["id"] == consultation.pk
    assert data["description"] == consultation.description
    assert data["place_code"] == "35"
    assert data["cpv_additional"] == [
        {"code": "45261210", "check_digit": "9", "label": "Travaux de couverture"}
    ]
    assert data["lots"] == [
        {
            "number": 1,
            "title": "Couverture",
            "description": "",
            "cpv": {"code": "45261210", "check_digit": "9", "label": "Travaux de couverture"},
        },
        {"number": 2, "title": "Isolation", "description": "", "cpv": None},
    ]
    assert data["contact"] == {
        "name": "Service de la commande publique",
        "email": "marches@commune.example.fr",
        "phone": "02 99 00 00 00",
    }
    assert data["variants_allowed"] is True
    assert data["two_step_opening"] is False
    assert data["max_deposit_bytes"] == 500 * 1024**2
    assert data["dce_version"] == 1
    assert datetime.fromisoformat(data["questions_deadline"]) == consultation.questions_deadline
    assert data["state"] == "published"
    assert "estimated_value" not in data  # the buyer's figure, not published
    assert "commission" not in data


def test_detail_current_dce_version_ignores_the_working_one():
    consultation = ConsultationFactory(published=True)
    DceVersion.objects.create(
        consultation=consultation, number=2, created_by=consultation.created_by, published_at=timezone.now()
    )
    DceVersion.objects.create(consultation=consultation, number=3, created_by=consultation.created_by)
    assert Client().get(detail_url(consultation.pk)).json()["dce_version"] == 2


@pytest.mark.parametrize("traits", [{}, {"published": True, "state": "archived"}])
def test_draft_or_archived_detail_is_a_journaled_404(traits, company_admin):
    hidden = ConsultationFactory(**traits)
    error(Client().get(detail_url(hidden.pk)), 404, "not_found")
    error(Client().get(detail_url(hidden.pk), headers=token_for(company_admin.user)), 404, "not_found")
    error(Client().get(f"{detail_url(hidden.pk)}documents/"), 404, "not_found")
    entries = denials()
    assert [e["actor_id"] for e in entries] == [None, company_admin.user.pk, None]
    assert entries[1]["payload"]["path"] == detail_url(hidden.pk)
    assert entries[1]["payload"]["method"] == "GET"
    assert entries[1]["payload"]["model"] == "marches.consultation"


def test_unknown_id_is_a_404_without_journal():
    error(Client().get(detail_url(999_999)), 404, "not_found")
    assert denials() == []


def test_documents_of_the_latest_published_version():
    consultation = ConsultationFactory(
        published=True, dce={"RC.pdf": b"%PDF rc", "Plans/plan-1.pdf": b"%PDF plan"}
    )
    working = DceVersion.objects.create(
        consultation=consultation, number=2, created_by=consultation.created_by
    )
    add_dce_file(working, "Brouillon.pdf", b"pas encore publie")
    response = Client().get(f"{detail_url(consultation.pk)}documents/")
    assert response.status_code == 200
    data = response.json()
    files = {f.path: f for f in DceFile.objects.filter(version__number=1)}
    assert data["version"] == 1
    assert datetime.fromisoformat(data["published_at"]) == consultation.published_at
    assert data["zip_url"] == settings.SITE_URL + reverse("marches:zip_download", args=[consultation.pk, 1])
    assert data["files"] == [
        {
            "id": files[path].pk,
            "path": path,
            "size": files[path].size,
            "sha256": files[path].sha256,
            "scan_status": "not_scanned",
            "scan_status_label": "Non analysé",
            "download_url": settings.SITE_URL
            + reverse("marches:file_download", args=[consultation.pk, files[path].pk]),
        }
        for path in ["Plans/plan-1.pdf", "RC.pdf"]
    ]
    working.published_at = timezone.now()
    working.save()
    data = Client().get(f"{detail_url(consultation.pk)}documents/").json()
    assert data["version"] == 2
    assert [f["path"] for f in data["files"]] == ["Brouillon.pdf"]
    assert data["zip_url"].endswith(reverse("marches:zip_download", args=[consultation.pk, 2]))


# --- Buyer: access ---------------------------------------------------------------------------------


BUYER_CALLS = [
    ("get", BUYER_LIST),
    ("post", BUYER_LIST),
    ("get", "/api/v1/buyer/consultations/{pk}/"),
    ("patch", "/api/v1/buyer/consultations/{pk}/"),
    ("post", "/api/v1/buyer/consultations/{pk}/documents/"),
    ("post", "/api/v1/buyer/consultations/{pk}/publish/"),
]


def call(method: str, url: str, headers: dict | None = None):
    client = Client()
    if method == "get":
        return client.get(url, headers=headers or {})
    if url.endswith("/documents/"):
        files = {"files": io.BytesIO(b"%PDF")}
        files["files"].name = "CCTP.pdf"
        return client.post(url, data=files, headers=headers or {})
    return getattr(client, method)(url, data={}, content_type="application/json", headers=headers or {})


@pytest.mark.parametrize(("method", "url"), BUYER_CALLS)
def test_buyer_endpoints_need_credentials(method, url, buyer_agent):
    consultation = ConsultationFactory(buyer=buyer_agent.organisation)
    error(call(method, url.format(pk=consultation.pk)), 401, "not_authenticated")


@pytest.mark.parametrize(("method", "url"), BUYER_CALLS)
def test_company_token_is_forbidden(method, url, company_admin, buyer_agent):
    consultation = ConsultationFactory(buyer=buyer_agent.organisation)
    response = call(method, url.format(pk=consultation.pk), token_for(company_admin.user))
    error(response, 403, "forbidden")
    assert Consultation.objects.count() == 1


@pytest.mark.parametrize(("method", "url"), BUYER_CALLS[2:])
def test_other_buyers_consultation_is_a_journaled_404(method, url, buyer_agent):
    other = ConsultationFactory(title="Consultation d'un autre acheteur")
    response = call(method, url.format(pk=other.pk), token_for(buyer_agent.user))
    error(response, 404, "not_found")
    [entry] = denials()
    assert entry["actor_id"] == buyer_agent.user.pk
    assert entry["payload"]["lookup"] == {"pk": str(other.pk)}
    assert entry["payload"]["method"] == method.upper()
    other.refresh_from_db()
    assert other.state == "draft"
    assert other.title == "Consultation d'un autre acheteur"
    assert DceFile.objects.filter(version__consultation=other).count() == 1  # the factory's RC


def test_commission_member_is_not_buyer_staff():
    member = MembershipFactory(commission_member=True, user__totp=True)
    error(Client().get(BUYER_LIST, headers=token_for(member.user)), 403, "forbidden")


def test_second_factor_session(client, buyer_agent):
    login_as(client, buyer_agent.user, verified=False)
    error(client.get(BUYER_LIST), 401, "not_authenticated")
    login_as(client, buyer_agent.user)
    assert client.get(BUYER_LIST).status_code == 200


def test_session_writes_need_the_csrf_token(buyer_agent):
    client = Client(enforce_csrf_checks=True)
    login_as(client, buyer_agent.user)
    response = client.post(BUYER_LIST, data={}, content_type="application/json")
    error(response, 403, "forbidden")


# --- Buyer: list, create, update --------------------------------------------------------------------


def test_buyer_list_has_the_callers_consultations_in_any_state(buyer_agent):
    buyer = buyer_agent.organisation
    draft = ConsultationFactory(buyer=buyer)
    published = ConsultationFactory(buyer=buyer, published=True)
    closed = ConsultationFactory(buyer=buyer, closed=True)
    ConsultationFactory(published=True)  # another buyer's
    response = Client().get(BUYER_LIST, headers=token_for(buyer_agent.user))
    assert sorted(ids(response)) == sorted([draft.pk, published.pk, closed.pk])
    states = {item["id"]: (item["state"], item["url"]) for item in response.json()["results"]}
    assert states[draft.pk] == ("draft", None)  # no public page yet
    assert states[closed.pk][0] == "closed"
    assert states[published.pk][1].endswith(f"/consultations/{published.pk}/")


@pytest.mark.parametrize("rows", [3, 15])
def test_buyer_list_query_count(rows, buyer_admin, django_assert_max_num_queries):
    for i in range(rows):
        ConsultationFactory(buyer=buyer_admin.organisation, with_lots=True, published=i % 2 == 0)
    headers = token_for(buyer_admin.user)
    with django_assert_max_num_queries(5):  # token, its last use, buyer staff, count, page
        assert len(ids(Client().get(BUYER_LIST, headers=headers))) == rows


def draft_body(**overrides) -> dict:
    body = {
        "reference": "2026-TX-01",
        "title": "Réfection de la toiture du groupe scolaire",
        "description": "Couverture en zinc, isolation des combles.",
        "nature": "works",
        "procedure": "adapted",
        "cpv_main": full_code("45261000"),
        "cpv_additional": ["45261210"],
        "place_code": "35238",
        "estimated_value": "180000.00",
        "deadline": timezone.localtime(timezone.now() + timedelta(days=30))
        .replace(hour=12, minute=0, second=0, microsecond=0)
        .isoformat(),
        "contact_name": "Service marchés",
        "contact_email": "marches@demoville.fr",
    }
    body.update(overrides)
    return body


def test_create_a_draft(buyer_agent):
    body = draft_body(variants_allowed=True, contact_phone="02 99 00 00 00", max_deposit_bytes=2**20)
    response = post_json(Client(), BUYER_LIST, body, token_for(buyer_agent.user))
    assert response.status_code == 201, response.content
    data = response.json()
    consultation = Consultation.objects.get()
    assert data["id"] == consultation.pk
    assert consultation.buyer == buyer_agent.organisation
    assert consultation.created_by == buyer_agent.user
    assert consultation.state == data["state"] == "draft"
    assert consultation.departement == data["departement"] == "35"
    assert consultation.estimated_value == Decimal(180_000)
    assert data["estimated_value"] == "180000.00"
    assert datetime.fromisoformat(data["deadline"]) == datetime.fromisoformat(body["deadline"])
    assert data["cpv_main"]["code"] == "45261000"
    assert [c["code"] for c in data["cpv_additional"]] == ["45261210"]
    assert data["variants_allowed"] is True
    assert data["max_deposit_bytes"] == 2**20
    assert data["contact"]["phone"] == "02 99 00 00 00"
    assert data["url"] is None
    assert data["dce_version"] is None
    assert data["dce_working_version"] == 1
    assert data["lots"] == []
    assert data["commission"] == []
    entry = JournalEntry.objects.get(action="consultation.created")
    assert entry.actor_id == buyer_agent.user.pk


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"cpv_main": "45261000-2"}, "cpv_main", "Le chiffre de contrôle de 45261000 est 4, pas 2"),
        ({"cpv_main": "99999999"}, "cpv_main", "n'existe pas dans la nomenclature CPV"),
        ({"cpv_additional": ["45261210", "4526"]}, "cpv_additional", "n'est pas un code CPV"),
        ({"deadline": "2026-12-14T12:00:00"}, "deadline", "décalage horaire"),
        ({"estimated_value": None}, "estimated_value", "ne peut être nul"),
        ({"nature": "bricolage"}, "nature", "n'est pas un choix valide"),
        ({"place_code": "99"}, "place_code", "ni un numéro de département"),
        ({"reference": ""}, "reference", "vide"),
    ],
)
def test_create_refuses_bad_input_in_french_and_saves_nothing(overrides, field, words, buyer_agent):
    body = error(
        post_json(Client(), BUYER_LIST, draft_body(**overrides), token_for(buyer_agent.user)),
        400,
        "validation",
    )
    assert field in body["details"]
    assert words in body["message"]
    assert not Consultation.objects.exists()


def test_create_needs_a_value_unless_lots_give_it(buyer_agent):
    headers = token_for(buyer_agent.user)
    body = draft_body()
    del body["estimated_value"]
    assert (
        "estimated_value"
        in error(post_json(Client(), BUYER_LIST, body, headers), 400, "validation")["details"]
    )
    body["lots"] = [
        {"number": 1, "title": "Couverture", "estimated_value": "70000"},
        {"number": 2, "title": "Isolation", "estimated_value": "50000.50", "cpv": "45261210-9"},
    ]
    response = post_json(Client(), BUYER_LIST, body, headers)
    assert response.status_code == 201, response.content
    assert response.json()["estimated_value"] == "120000.50"


def test_buyer_field_when_acting_for_several_buyers(buyer_agent):
    user = buyer_agent.user
    second = MembershipFactory(user=user, buyer_admin=True).organisation
    stranger = OrganisationFactory(buyer=True)
    headers = token_for(user)
    body = error(post_json(Client(), BUYER_LIST, draft_body(), headers), 400, "validation")
    assert "buyer" in body["details"]
    body = error(post_json(Client(), BUYER_LIST, draft_body(buyer=stranger.pk), headers), 404, "not_found")
    assert "ni administrateur ni agent" in body["message"]
    assert not Consultation.objects.exists()
    response = post_json(Client(), BUYER_LIST, draft_body(buyer=second.pk), headers)
    assert response.status_code == 201
    assert response.json()["buyer"]["id"] == second.pk


def commission_members(buyer, n: int = 3) -> list:
    return [
        MembershipFactory(
            organisation=buyer, role="commission_member", user__totp=True, user__ceremony=True
        ).user
        for _ in range(n)
    ]


def test_create_with_lots_and_commission_is_all_or_nothing(buyer_agent):
    members = commission_members(buyer_agent.organisation)
    outsider = MembershipFactory(commission_member=True).user  # another buyer's commission
    lots = [
        {"number": 2, "title": "Isolation", "estimated_value": "50000", "description": "Combles"},
        {"number": 1, "title": "Couverture", "estimated_value": "70000", "cpv": "45261210"},
    ]
    bad = {"members": [members[0].pk, outsider.pk], "president": members[0].pk, "quorum": 2}
    headers = token_for(buyer_agent.user)
    body = error(
        post_json(Client(), BUYER_LIST, draft_body(lots=lots, commission=bad), headers), 400, "validation"
    )
    assert str(outsider.pk) in body["message"]
    assert not Consultation.objects.exists()
    assert not Lot.objects.exists()
    single = error(post_json(Client(), BUYER_LIST, draft_body(lots=lots[:1]), headers), 400, "validation")
    assert "au moins deux lots" in single["message"]
    assert not Consultation.objects.exists()

    good = {"members": [m.pk for m in members], "president": members[1].pk, "quorum": 3}
    response = post_json(Client(), BUYER_LIST, draft_body(lots=lots, commission=good), headers)
    assert response.status_code == 201, response.content
    data = response.json()
    assert [(lot["number"], lot["estimated_value"]) for lot in data["lots"]] == [
        (1, "70000.00"),
        (2, "50000.00"),
    ]
    assert data["lots"][0]["cpv"]["code"] == "45261210"
    assert data["estimated_value"] == "120000.00"  # the sum of the lots
    assert data["quorum"] == 3
    assert {seat["id"]: seat["is_president"] for seat in data["commission"]} == {
        members[0].pk: False,
        members[1].pk: True,
        members[2].pk: False,
    }
    assert CommissionSeat.objects.get(is_president=True).member == members[1]


def test_patch_a_draft(buyer_agent):
    consultation = ConsultationFactory(buyer=buyer_agent.organisation, with_lots=True)
    headers = token_for(buyer_agent.user)
    response = patch_json(
        Client(),
        buyer_url(consultation.pk),
        {"title": "Nouveau titre", "cpv_additional": ["45261210"], "procedure": "open"},
        headers,
    )
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["title"] == "Nouveau titre"
    assert data["procedure"] == {"code": "open", "label": "Appel d'offres ouvert"}
    assert [lot["number"] for lot in data["lots"]] == [1, 2]  # lots kept when not sent
    consultation.refresh_from_db()
    assert consultation.title == "Nouveau titre"
    assert list(consultation.cpv_additional.values_list("code", flat=True)) == ["45261210"]
    entry = JournalEntry.objects.get(action="consultation.updated")
    assert set(entry.payload["changed"]) == {"title", "procedure", "cpv_additional"}
    response = patch_json(Client(), buyer_url(consultation.pk), {"lots": []}, headers)
    assert response.json()["lots"] == []
    error(patch_json(Client(), buyer_url(consultation.pk), {"cpv_main": "1"}, headers), 400, "validation")
    assert Client().get(buyer_url(consultation.pk), headers=headers).json()["title"] == "Nouveau titre"


def test_patch_a_published_consultation_is_a_conflict(buyer_agent):
    consultation = ConsultationFactory(buyer=buyer_agent.organisation, published=True)
    body = error(
        patch_json(Client(), buyer_url(consultation.pk), {"title": "Changé"}, token_for(buyer_agent.user)),
        409,
        "published",
    )
    assert "avis rectificatif" in body["message"]
    consultation.refresh_from_db()
    assert consultation.title != "Changé"


# --- Buyer: documents and publication -------------------------------------------------------------


def upload(url: str, headers: dict, files: dict[str, bytes], **extra):
    handles = []
    for name, content in files.items():
        handle = io.BytesIO(content)
        handle.name = name
        handles.append(handle)
    return Client().post(url, data={"files": handles, **extra}, headers=headers)


def test_upload_files_into_a_folder(buyer_agent):
    consultation = ConsultationFactory(buyer=buyer_agent.organisation, dce={})
    headers = token_for(buyer_agent.user)
    response = upload(
        buyer_url(consultation.pk, "documents"),
        headers,
        {"CCTP.pdf": b"%PDF cctp", "CCAP.pdf": b"%PDF ccap"},
        folder="Pièces administratives",
    )
    assert response.status_code == 201, response.content
    data = response.json()
    stored = {f.path: f for f in DceFile.objects.filter(version__consultation=consultation)}
    assert set(stored) == {"Pièces administratives/CCTP.pdf", "Pièces administratives/CCAP.pdf"}
    assert data["version"] == 1
    assert sorted(data["files"], key=lambda f: f["path"]) == [
        {
            "id": stored[path].pk,
            "path": path,
            "size": stored[path].size,
            "sha256": stored[path].sha256,
            "scan_status": "not_scanned",
            "scan_status_label": "Non analysé",
        }
        for path in sorted(stored)
    ]


def test_upload_a_zip_keeps_its_tree(buyer_agent):
    consultation = ConsultationFactory(buyer=buyer_agent.organisation, dce={})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("Plans/plan.pdf", b"plan")
        archive.writestr("CCTP.pdf", b"cctp")
    response = upload(
        buyer_url(consultation.pk, "documents"), token_for(buyer_agent.user), {"dce.zip": buffer.getvalue()}
    )
    assert response.status_code == 201, response.content
    assert sorted(f["path"] for f in response.json()["files"]) == ["CCTP.pdf", "Plans/plan.pdf"]


@pytest.mark.parametrize(
    ("files", "code", "words"),
    [
        ({"dce.zip": b"not a zip at all"}, None, "Aucun fichier n'a été importé"),
        ({}, "validation", "Choisissez au moins un fichier"),
    ],
)
def test_upload_refusals(files, code, words, buyer_agent):
    consultation = ConsultationFactory(buyer=buyer_agent.organisation, dce={})
    response = upload(buyer_url(consultation.pk, "documents"), token_for(buyer_agent.user), files)
    assert response.status_code == 400, response.content
    body = response.json()["error"]
    if code:
        assert body["code"] == code
    assert words in body["message"]
    assert not DceFile.objects.exists()


def test_upload_as_json_is_refused(buyer_agent):
    consultation = ConsultationFactory(buyer=buyer_agent.organisation, dce={})
    response = post_json(
        Client(), buyer_url(consultation.pk, "documents"), {"files": ["x"]}, token_for(buyer_agent.user)
    )
    error(response, 415, "unsupported_media_type")


def test_infected_upload_is_refused_and_nothing_stored(buyer_agent, clamav):
    consultation = ConsultationFactory(buyer=buyer_agent.organisation, dce={})
    response = upload(
        buyer_url(consultation.pk, "documents"),
        token_for(buyer_agent.user),
        {"CCAP.pdf": b"%PDF clean", "Annexe.com": EICAR},
    )
    body = error(response, 400, "infected")
    assert "Annexe.com" in body["message"]
    assert "Fichier infecté refusé" in body["message"]
    assert body["details"] == {"infected": ["Annexe.com"]}
    assert not DceFile.objects.exists()
    assert JournalEntry.objects.filter(action="dce.infected_refused").count() == 1


def test_publication_refused_gives_each_rule(buyer_agent):
    consultation = ConsultationFactory(
        buyer=buyer_agent.organisation, dce={}, estimated_value=Decimal(10_000)
    )
    body = error(
        Client().post(buyer_url(consultation.pk, "publish"), headers=token_for(buyer_agent.user)),
        400,
        "publication_refused",
    )
    assert set(body["details"]) == {"threshold_dematerialisation", "commission", "dce"}
    assert "Ajoutez au moins un document au DCE." in body["details"]["dce"]
    assert body["message"].startswith("La consultation ne peut pas être publiée")
    consultation.refresh_from_db()
    assert consultation.state == "draft"


def test_unscanned_files_block_publication(buyer_agent):
    """Without clamd the DCE is « non analysé »: the API refuses to publish it and says why;
    the buyer's decision to publish it unscanned is taken on the publication page."""
    from tests.marches.test_services import publishable

    consultation, _ = publishable(buyer_agent)
    consultation.dce_versions.get().unscanned_acceptances.all().delete()
    body = error(
        Client().post(buyer_url(consultation.pk, "publish"), headers=token_for(buyer_agent.user)),
        400,
        "publication_refused",
    )
    assert set(body["details"]) == {"dce_scan"}
    assert "RC.pdf" in body["details"]["dce_scan"][0]


def test_publishing_twice_is_a_conflict(buyer_agent):
    consultation = ConsultationFactory(buyer=buyer_agent.organisation, published=True)
    error(
        Client().post(buyer_url(consultation.pk, "publish"), headers=token_for(buyer_agent.user)),
        409,
        "published",
    )


def test_create_upload_publish_end_to_end_with_a_token(buyer_agent, clamav):
    """A buyer's software drives the whole preparation through the API, and the consultation
    then shows in the public search, page and documents. The files are scanned by clamd: an
    unscanned file would block publication (test_unscanned_files_block_publication)."""
    headers = token_for(buyer_agent.user)
    members = commission_members(buyer_agent.organisation)
    body = draft_body(
        title="Rénovation énergétique de la médiathèque",
        lots=[
            {"number": 1, "title": "Couverture", "estimated_value": "90000", "cpv": full_code("45261210")},
            {"number": 2, "title": "Menuiseries", "estimated_value": "60000"},
        ],
        commission={"members": [m.pk for m in members], "president": members[0].pk, "quorum": 2},
    )
    created = post_json(Client(), BUYER_LIST, body, headers)
    assert created.status_code == 201, created.content
    pk = created.json()["id"]

    refused = Client().post(buyer_url(pk, "publish"), headers=headers)
    assert set(error(refused, 400, "publication_refused")["details"]) == {"dce"}

    uploaded = upload(
        buyer_url(pk, "documents"), headers, {"RC.pdf": b"%PDF reglement", "CCTP.pdf": b"%PDF cctp"}
    )
    assert uploaded.status_code == 201, uploaded.content

    published = Client().post(buyer_url(pk, "publish"), headers=headers)
    assert published.status_code == 200, published.content
    data = published.json()
    assert data["state"] == "published"
    assert data["dce_version"] == 1
    assert data["dce_working_version"] is None
    assert data["url"] == f"{settings.SITE_URL}/consultations/{pk}/"
    assert datetime.fromisoformat(data["published_at"]) <= timezone.now()
    assert JournalEntry.objects.filter(action="consultation.published", target_id=str(pk)).exists()

    assert ids(Client().get(LIST, {"q": "médiathèque"})) == [pk]
    public = Client().get(detail_url(pk)).json()
    assert [lot["title"] for lot in public["lots"]] == ["Couverture", "Menuiseries"]
    documents = Client().get(f"{detail_url(pk)}documents/").json()
    assert documents["version"] == 1
    assert [f["path"] for f in documents["files"]] == ["CCTP.pdf", "RC.pdf"]
    # The advertised links serve the very files, and the whole DCE as a zip.
    download = Client().get(documents["files"][1]["download_url"].removeprefix(settings.SITE_URL))
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"%PDF reglement"
    archive = Client().get(documents["zip_url"].removeprefix(settings.SITE_URL))
    assert archive.status_code == 200
    with zipfile.ZipFile(io.BytesIO(b"".join(archive.streaming_content))) as dce:
        assert sorted(name.rsplit("/", 1)[-1] for name in dce.namelist()) == ["CCTP.pdf", "RC.pdf"]

    # Published: edits go through an amendment, not PATCH.
    error(patch_json(Client(), buyer_url(pk), {"title": "Autre"}, headers), 409, "published")


# --- Schema --------------------------------------------------------------------------------------


def test_schema_documents_the_consultation_endpoints():
    schema = Client().get("/api/schema/", headers={"accept": "application/vnd.oai.openapi+json"}).json()
    operations = {
        operation["operationId"]: (path, method, operation["tags"])
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }
    assert operations["consultations_list"] == ("/api/v1/consultations/", "get", ["consultations"])
    assert operations["consultations_retrieve"][2] == ["consultations"]
    assert operations["consultations_documents"][2] == ["consultations"]
    for operation_id, method in [
        ("buyer_consultations_list", "get"),
        ("buyer_consultations_create", "post"),
        ("buyer_consultations_retrieve", "get"),
        ("buyer_consultations_update", "patch"),
        ("buyer_consultations_documents_add", "post"),
        ("buyer_consultations_publish", "post"),
    ]:
        assert operations[operation_id][1:] == (method, ["acheteur"])
    list_params = {p["name"] for p in schema["paths"]["/api/v1/consultations/"]["get"]["parameters"]}
    assert {"q", "cpv", "nature", "procedure", "departement", "buyer", "deadline_after"} <= list_params
    assert {"deadline_before", "include_closed", "ordering", "page", "page_size"} <= list_params
    upload_body = schema["paths"]["/api/v1/buyer/consultations/{id}/documents/"]["post"]["requestBody"]
    assert list(upload_body["content"]) == ["multipart/form-data"]
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
