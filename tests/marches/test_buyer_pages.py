"""The buyer's back office: who may open it, the consultation form (CPV, place, dates in Paris
time), lots, commission, publication rules, outcome, download register and the list's query
count. Refusals are French messages and leave nothing half-saved."""

import csv
import io
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from comptes.models import Membership
from marches.models import CommissionSeat, Consultation, DceDownload, DceFile, Lot
from preuves.models import JournalEntry

from ..factories import ConsultationFactory, MembershipFactory, UserFactory
from ..helpers import login_as, text

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
PAGES = [
    "buyer_detail",
    "buyer_edit",
    "buyer_lots",
    "buyer_commission",
    "buyer_dce",
    "buyer_publish",
]
PUBLISHED_PAGES = [
    "buyer_detail",
    "buyer_amend",
    "buyer_register",
    "buyer_lots",
    "buyer_commission",
    "buyer_dce",
]


@pytest.fixture
def agent(client, buyer_agent):
    login_as(client, buyer_agent.user)
    return buyer_agent


def _draft(agent, **kwargs):
    return ConsultationFactory(buyer=agent.organisation, created_by=agent.user, **kwargs)


def _url(name, consultation, *args):
    return reverse(f"marches:{name}", args=[consultation.pk, *args])


def _form_data(agent, **overrides):
    day = timezone.localdate() + timedelta(days=40)
    data = {
        "buyer": agent.organisation.pk,
        "reference": "2026-TX-01",
        "title": "Réfection de la toiture du groupe scolaire",
        "description": "Couverture en zinc, isolation des combles.",
        "nature": "works",
        "procedure": "adapted",
        "authority_type": "local",
        "cpv_main": "45261000-4",
        "cpv_additional": "45210000-2\n45000000-7",
        "place_code": "35238",
        "estimated_value": "180000",
        "deadline_date": day.isoformat(),
        "deadline_time": "12:00",
        "questions_deadline_date": (day - timedelta(days=7)).isoformat(),
        "questions_deadline_time": "17:30",
        "max_deposit_mb": "200",
        "contact_name": "Service marchés",
        "contact_email": "marches@demoville.fr",
        "contact_phone": "02 99 00 00 00",
    }
    data.update(overrides)
    return data


# --- Access ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PAGES)
def test_every_draft_page_renders_for_an_agent(client, agent, name):
    consultation = _draft(agent, with_lots=True, with_commission=True)
    response = client.get(_url(name, consultation))
    assert response.status_code == 200
    page = text(response)
    assert "<h1" in page
    assert consultation.reference in page
    assert 'class="fr-breadcrumb"' in page
    assert 'aria-current="page"' in page  # the sub-navigation marks the current page


@pytest.mark.parametrize("name", PUBLISHED_PAGES)
def test_every_published_page_renders_for_an_agent(client, agent, name):
    consultation = _draft(agent, published=True, with_commission=True)
    response = client.get(_url(name, consultation))
    assert response.status_code == 200
    assert consultation.reference in text(response)


def test_list_and_create_render_for_an_agent(client, agent):
    _draft(agent, title="Entretien des espaces verts")
    page = text(client.get(reverse("marches:buyer_list")))
    assert "Entretien des espaces verts" in page
    assert "Nouvelle consultation" in page
    response = client.get(reverse("marches:buyer_create"))
    assert response.status_code == 200
    page = text(response)
    assert "Type d'acheteur" in page
    assert "(heure de Paris)" in page
    assert "Procédure adaptée possible sous le seuil européen" in page
    assert "Le type d'acheteur détermine le seuil européen des fournitures et services" in page
    assert f'name="buyer" value="{agent.organisation.pk}"' in page  # one buyer: no select


def test_anonymous_is_sent_to_login(client, buyer_agent):
    consultation = ConsultationFactory(buyer=buyer_agent.organisation)
    for url in [
        reverse("marches:buyer_list"),
        reverse("marches:buyer_create"),
        _url("buyer_detail", consultation),
    ]:
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("comptes:login"))


@pytest.mark.parametrize("role", ["company_admin", "commission_member"])
def test_company_users_and_commission_members_are_refused(client, buyer_agent, role):
    if role == "company_admin":
        user = MembershipFactory(company_admin=True).user
    else:
        user = MembershipFactory(
            organisation=buyer_agent.organisation, role=Membership.Role.COMMISSION_MEMBER, user__totp=True
        ).user
    consultation = ConsultationFactory(buyer=buyer_agent.organisation)
    login_as(client, user)
    for url in [
        reverse("marches:buyer_list"),
        reverse("marches:buyer_create"),
        reverse("marches:cpv_search") + "?q=4526",
        _url("buyer_detail", consultation),
        _url("buyer_register_csv", consultation),
    ]:
        response = client.get(url)
        assert response.status_code == 403, url
        assert "Accès réservé aux acheteurs" in text(response) or url.startswith(
            reverse("marches:cpv_search")
        )
    response = client.post(reverse("marches:buyer_create"), {"reference": "X"})
    assert response.status_code == 403
    assert not Consultation.objects.filter(reference="X").exists()


def test_unverified_second_factor_is_sent_to_the_code_page(client, buyer_agent):
    login_as(client, buyer_agent.user, verified=False)
    response = client.get(reverse("marches:buyer_list"))
    assert response.status_code == 302
    assert response.url == reverse("comptes:login_code")


@pytest.mark.parametrize(
    ("name", "method"),
    [(name, "get") for name in [*PAGES, "buyer_amend", "buyer_register", "buyer_register_csv"]]
    + [
        (name, "post")
        for name in ["buyer_edit", "buyer_lots", "buyer_commission", "buyer_publish", "buyer_declare"]
    ],
)
def test_agent_of_another_buyer_gets_404_and_a_journal_entry(client, agent, name, method):
    other = ConsultationFactory()  # another buyer
    response = getattr(client, method)(_url(name, other))
    assert response.status_code == 404
    entry = JournalEntry.objects.get(action="access.denied")
    assert entry.actor_id == agent.user_id
    assert entry.payload["lookup"] == {"pk": str(other.pk)}
    other.refresh_from_db()
    assert other.state == "draft"
    assert not JournalEntry.objects.exclude(action="access.denied").filter(target_id=str(other.pk)).exists()


def test_admin_of_one_buyer_agent_of_another_sees_both_with_a_buyer_column(client, agent):
    second = MembershipFactory(buyer_admin=True, user=agent.user)
    mine = _draft(agent, title="Consultation de la commune")
    theirs = ConsultationFactory(buyer=second.organisation, title="Consultation du syndicat")
    ConsultationFactory(title="Consultation d'un inconnu")
    page = text(client.get(reverse("marches:buyer_list")))
    assert mine.title in page
    assert theirs.title in page
    assert "Consultation d'un inconnu" not in page
    assert second.organisation.name in page
    form_page = text(client.get(reverse("marches:buyer_create")))
    assert '<select name="buyer"' in form_page


# --- Create and edit ------------------------------------------------------------------------------


def test_create_saves_a_draft_with_paris_deadlines(client, agent):
    data = _form_data(agent)
    response = client.post(reverse("marches:buyer_create"), data)
    consultation = Consultation.objects.get()
    assert response.status_code == 302
    assert response.url == _url("buyer_detail", consultation)
    assert consultation.state == "draft"
    assert consultation.buyer == agent.organisation
    assert consultation.cpv_main_id == "45261000"
    assert sorted(consultation.cpv_additional.values_list("code", flat=True)) == ["45000000", "45210000"]
    assert consultation.departement == "35"
    day = datetime.fromisoformat(data["deadline_date"]).date()
    assert consultation.deadline == datetime(day.year, day.month, day.day, 12, 0, tzinfo=PARIS)
    assert timezone.localtime(consultation.questions_deadline, PARIS).strftime("%H:%M") == "17:30"
    assert consultation.max_deposit_bytes == 200 * 2**20
    assert consultation.contact_phone == "02 99 00 00 00"
    assert JournalEntry.objects.filter(action="consultation.created", target_id=str(consultation.pk)).exists()
    page = text(client.get(response.url))
    assert "Prochaines étapes" in page
    assert "(heure de Paris)" in page


def test_create_accepts_a_cpv_typed_without_its_check_digit(client, agent):
    client.post(reverse("marches:buyer_create"), _form_data(agent, cpv_main="45261000", cpv_additional=""))
    assert Consultation.objects.get().cpv_main_id == "45261000"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cpv_main": "4526"}, "« 4526 » n'est pas un code CPV"),
        ({"cpv_main": "99999999-1"}, "Le code CPV 99999999 n'existe pas"),
        ({"cpv_main": "45261000-9"}, "Le chiffre de contrôle de 45261000 est 4, pas 9"),
        ({"cpv_main": ""}, "Ce champ est obligatoire"),
        ({"cpv_additional": "45210000-2, 12345678"}, "Le code CPV 12345678 n'existe pas"),
        ({"place_code": "999"}, "« 999 » n'est ni un numéro de département"),
        ({"deadline_date": "2020-01-06"}, "La date limite de remise des plis doit être à venir."),
        ({"deadline_time": "midi"}, "Saisissez une heure valide"),
        ({"questions_deadline_time": ""}, "Indiquez aussi l'heure limite des questions."),
        ({"estimated_value": "0"}, "La valeur estimée doit être supérieure à 0 €."),
        ({"max_deposit_mb": str(settings.DEPOSIT_MAX_BYTES_LIMIT // 2**20 + 1)}, "plis d'au plus"),
        ({"contact_email": "pas-une-adresse"}, "Saisissez une adresse e-mail valide"),
    ],
)
def test_create_refuses_bad_input_in_french_and_saves_nothing(client, agent, overrides, message):
    response = client.post(reverse("marches:buyer_create"), _form_data(agent, **overrides))
    assert response.status_code == 400
    assert message in text(response)
    assert "La consultation n'est pas enregistrée" in text(response)
    assert not Consultation.objects.exists()
    assert not JournalEntry.objects.filter(action="consultation.created").exists()


def test_create_questions_after_deadline_refused(client, agent):
    data = _form_data(agent)
    data["questions_deadline_date"] = (
        datetime.fromisoformat(data["deadline_date"]) + timedelta(days=1)
    ).date()
    response = client.post(reverse("marches:buyer_create"), data)
    assert response.status_code == 400
    assert "La date limite des questions doit précéder la date limite de remise des plis." in text(response)
    assert not Consultation.objects.exists()


def test_create_duplicate_reference_is_a_french_message_and_nothing_more(client, agent):
    _draft(agent, reference="2026-TX-01")
    response = client.post(reverse("marches:buyer_create"), _form_data(agent))
    assert response.status_code == 400
    assert "Une consultation de cet acheteur porte déjà cette référence." in text(response)
    assert Consultation.objects.count() == 1


def test_create_for_a_buyer_one_does_not_belong_to_is_refused(client, agent):
    other = MembershipFactory(buyer_admin=True).organisation
    response = client.post(reverse("marches:buyer_create"), _form_data(agent, buyer=other.pk))
    assert response.status_code == 400
    assert "Sélectionnez un choix valide" in text(response)
    assert not Consultation.objects.exists()


def test_edit_a_draft(client, agent):
    consultation = _draft(agent)
    page = text(client.get(_url("buyer_edit", consultation)))
    assert 'value="45261000-4"' in page
    data = _form_data(agent, reference=consultation.reference, title="Nouvel objet", cpv_additional="")
    response = client.post(_url("buyer_edit", consultation), data)
    assert response.status_code == 302
    consultation.refresh_from_db()
    assert consultation.title == "Nouvel objet"
    entry = JournalEntry.objects.get(action="consultation.updated")
    assert entry.payload["changed"]["title"] == "Nouvel objet"


def test_edit_keeps_a_deadline_typed_back_as_shown(client, agent):
    deadline = (timezone.now() + timedelta(days=30)).replace(second=42, microsecond=123)
    consultation = _draft(agent, deadline=deadline)
    form = client.get(_url("buyer_edit", consultation)).context["form"]
    data = {name: form[name].value() for name in form.fields}
    data = {k: ("" if v is None else v) for k, v in data.items() if v is not False}
    data["cpv_main"] = "45261000-4"
    data["cpv_additional"] = ""
    response = client.post(_url("buyer_edit", consultation), data)
    assert response.status_code == 302, text(response)
    consultation.refresh_from_db()
    assert consultation.deadline == deadline
    assert not JournalEntry.objects.filter(action="consultation.updated").exists()


def test_edit_with_lots_keeps_the_sum_of_the_lots(client, agent):
    consultation = _draft(agent, with_lots=True)
    page = text(client.get(_url("buyer_edit", consultation)))
    assert "sa valeur est la somme des lots" in page
    data = _form_data(agent, reference=consultation.reference, estimated_value="5", cpv_additional="")
    client.post(_url("buyer_edit", consultation), data)
    consultation.refresh_from_db()
    assert consultation.estimated_value == Decimal(120000)


def test_edit_of_a_published_consultation_redirects_to_the_amendment(client, agent):
    consultation = _draft(agent, published=True)
    response = client.get(_url("buyer_edit", consultation), follow=True)
    assert response.redirect_chain[-1][0] == _url("buyer_amend", consultation)
    assert "ne se modifie plus que par un avis rectificatif" in text(response)


# --- CPV picker -----------------------------------------------------------------------------------


def test_cpv_search_by_code_prefix_and_by_words(client, agent):
    url = reverse("marches:cpv_search")
    by_code = client.get(url, {"q": "4526"}).json()["results"]
    assert 0 < len(by_code) <= 20
    assert all(r["code"].startswith("4526") for r in by_code)
    assert {
        "code": "45261000-4",
        "label": "Travaux de charpente et de couverture et travaux connexes",
    } in by_code
    full = client.get(url, {"q": "45261000-4"}).json()["results"]
    assert full[0]["code"] == "45261000-4"
    by_words = client.get(url, {"q": "charpente couverture"}).json()["results"]
    assert "45261000-4" in [r["code"] for r in by_words]
    assert all("charpente" in r["label"].lower() for r in by_words)
    assert len(client.get(url, {"q": "45"}).json()["results"]) == 20
    assert client.get(url, {"q": "x"}).json()["results"] == []


def test_cpv_search_query_count_does_not_grow_with_results(client, agent, django_assert_max_num_queries):
    url = reverse("marches:cpv_search")
    with django_assert_max_num_queries(5):
        client.get(url, {"q": "45"})


# --- Lots -----------------------------------------------------------------------------------------


def _lots_data(lots, *, initial=0):
    data = {"form-TOTAL_FORMS": str(len(lots)), "form-INITIAL_FORMS": str(initial)}
    for i, lot in enumerate(lots):
        for key, value in lot.items():
            data[f"form-{i}-{key}"] = value
    return data


def test_lots_formset_saves_two_lots_and_the_sum(client, agent):
    consultation = _draft(agent)
    data = _lots_data(
        [
            {"number": "1", "title": "Couverture", "cpv": "45261000-4", "estimated_value": "90000"},
            {"number": "2", "title": "Isolation", "cpv": "", "estimated_value": "40000.50"},
            {"number": "3", "title": "", "cpv": "", "estimated_value": ""},  # left empty: ignored
        ]
    )
    response = client.post(_url("buyer_lots", consultation), data)
    assert response.status_code == 302
    assert list(consultation.lots.values_list("number", "title", "cpv_id")) == [
        (1, "Couverture", "45261000"),
        (2, "Isolation", None),
    ]
    consultation.refresh_from_db()
    assert consultation.estimated_value == Decimal("130000.50")
    page = text(client.get(_url("buyer_lots", consultation)))
    assert "Lot enregistré n° 2" in page
    assert "la somme des valeurs des lots" in page


def test_a_single_lot_is_refused_in_french(client, agent):
    consultation = _draft(agent)
    data = _lots_data([{"number": "1", "title": "Couverture", "estimated_value": "90000"}])
    response = client.post(_url("buyer_lots", consultation), data)
    assert response.status_code == 400
    assert "Une consultation allotie compte au moins deux lots" in text(response)
    assert not Lot.objects.exists()


def test_lots_with_the_same_number_or_a_bad_cpv_are_refused(client, agent):
    consultation = _draft(agent)
    data = _lots_data(
        [
            {"number": "1", "title": "A", "estimated_value": "1000"},
            {"number": "1", "title": "B", "estimated_value": "1000"},
        ]
    )
    response = client.post(_url("buyer_lots", consultation), data)
    assert "Deux lots portent le même numéro : 1." in text(response)
    data = _lots_data(
        [
            {"number": "1", "title": "A", "estimated_value": "1000", "cpv": "11111111"},
            {"number": "2", "title": "B", "estimated_value": "1000"},
        ]
    )
    response = client.post(_url("buyer_lots", consultation), data)
    assert "Le code CPV 11111111 n'existe pas" in text(response)
    assert not Lot.objects.exists()


def test_add_a_lot_without_javascript_saves_nothing(client, agent):
    consultation = _draft(agent)
    data = _lots_data([{"number": "1", "title": "Couverture", "estimated_value": "90000"}])
    data["add_lot"] = "1"
    response = client.post(_url("buyer_lots", consultation), data)
    assert response.status_code == 200
    formset = response.context["formset"]
    assert formset.total_form_count() == 2
    assert 'value="Couverture"' in text(response)
    assert 'name="form-1-number" value="2"' in text(response)
    assert "Ce champ est obligatoire" not in text(response)  # the new form is not "wrong"
    assert not Lot.objects.exists()
    # Saving with the new form left as shown: the lone lot is refused, as always.
    data = {k: v for k, v in response.context["formset"].data.items() if k != "add_lot"}
    response = client.post(_url("buyer_lots", consultation), data)
    assert "Une consultation allotie compte au moins deux lots" in text(response)


def test_delete_a_lot_and_back_to_a_single_contract(client, agent):
    consultation = _draft(agent, with_lots=True)
    Lot.objects.create(consultation=consultation, number=3, title="Peinture", estimated_value=Decimal(10000))
    data = _lots_data(
        [
            {"number": "1", "title": "Couverture", "estimated_value": "70000"},
            {"number": "2", "title": "Isolation", "estimated_value": "50000"},
            {"number": "3", "title": "Peinture", "estimated_value": "10000", "DELETE": "on"},
            {"number": "4", "title": "", "estimated_value": ""},
        ],
        initial=3,
    )
    response = client.post(_url("buyer_lots", consultation), data)
    assert response.status_code == 302
    assert list(consultation.lots.values_list("number", flat=True)) == [1, 2]
    response = client.post(_url("buyer_lots", consultation), {"single": "1"}, follow=True)
    assert "c'est un marché unique" in text(response)
    assert not consultation.lots.exists()
    entries = JournalEntry.objects.filter(action="consultation.lots_set").order_by("seq")
    assert [len(e.payload["lots"]) for e in entries] == [2, 0]


def test_lots_of_a_published_consultation_are_read_only(client, agent):
    consultation = _draft(agent, published=True, with_lots=True)
    page = text(client.get(_url("buyer_lots", consultation)))
    assert "ses lots ne changent plus" in page
    assert "form-TOTAL_FORMS" not in page
    response = client.post(_url("buyer_lots", consultation), {"single": "1"})
    assert response.status_code == 200
    assert consultation.lots.count() == 2


# --- Commission -----------------------------------------------------------------------------------


def _members(buyer, n, *, totp=True):
    return [
        MembershipFactory(organisation=buyer, role=Membership.Role.COMMISSION_MEMBER, user__totp=totp).user
        for _ in range(n)
    ]


def test_commission_page_shows_second_factor_badges(client, agent):
    consultation = _draft(agent)
    enrolled = _members(agent.organisation, 1)[0]
    pending = _members(agent.organisation, 1, totp=False)[0]
    page = text(client.get(_url("buyer_commission", consultation)))
    assert enrolled.email in page
    assert pending.email in page
    assert "double authentification activée" in page
    assert "double authentification à activer" in page


def test_commission_is_saved(client, agent):
    consultation = _draft(agent)
    a, b, c = _members(agent.organisation, 3)
    response = client.post(
        _url("buyer_commission", consultation),
        {"members": [a.pk, b.pk, c.pk], "president": b.pk, "quorum": "2"},
    )
    assert response.status_code == 302
    assert set(CommissionSeat.objects.values_list("member_id", "is_president")) == {
        (a.pk, False),
        (b.pk, True),
        (c.pk, False),
    }
    consultation.refresh_from_db()
    assert consultation.quorum == 2


@pytest.mark.parametrize(
    ("quorum", "president_index", "message"),
    [
        ("3", 0, "Le quorum (3) ne peut pas dépasser le nombre de membres cochés (2)."),
        ("1", 0, "supérieure ou égale à 2"),
        ("2", 2, "Le président doit être l'un des membres cochés."),
    ],
)
def test_commission_refusals(client, agent, quorum, president_index, message):
    consultation = _draft(agent)
    members = _members(agent.organisation, 3)
    response = client.post(
        _url("buyer_commission", consultation),
        {
            "members": [members[0].pk, members[1].pk],
            "president": members[president_index].pk,
            "quorum": quorum,
        },
    )
    assert response.status_code == 400
    assert message in text(response)
    assert not CommissionSeat.objects.exists()


def test_commission_member_of_another_buyer_cannot_be_chosen(client, agent):
    consultation = _draft(agent)
    mine = _members(agent.organisation, 1)[0]
    outsider = MembershipFactory(commission_member=True, user__totp=True).user
    page = text(client.get(_url("buyer_commission", consultation)))
    assert outsider.email not in page
    response = client.post(
        _url("buyer_commission", consultation),
        {"members": [mine.pk, outsider.pk], "president": mine.pk, "quorum": 2},
    )
    assert response.status_code == 400
    assert "Sélectionnez un choix valide" in text(response)
    assert not CommissionSeat.objects.exists()


# --- Publication ----------------------------------------------------------------------------------


def _publishable(agent, **kwargs):
    """Ready to publish, its DCE scanned clean as clamd would have it (the unscanned case is
    tests/marches/test_unscanned_dce.py)."""
    consultation = _draft(agent, with_commission=True, **kwargs)
    DceFile.objects.filter(version__consultation=consultation).update(scan_status=DceFile.ScanStatus.CLEAN)
    return consultation


def test_publish_page_of_a_ready_draft(client, agent):
    consultation = _publishable(agent)
    response = client.get(_url("buyer_publish", consultation))
    page = text(response)
    assert response.context["report"].ok
    assert "Règles vérifiées" in page
    assert "fr-alert--error" not in page
    assert '<button type="submit" class="fr-btn">Publier la consultation</button>' in page


@pytest.mark.parametrize(
    ("fields", "code", "cited"),
    [
        ({"estimated_value": Decimal(10_000)}, "threshold_dematerialisation", "40\u202f000 € HT"),
        (
            {"estimated_value": Decimal(6_000_000), "procedure": "adapted", "nature": "works"},
            "threshold_eu",
            "article R2123-1",
        ),
        (
            {"procedure": "open", "deadline": timezone.now() + timedelta(days=10)},
            "deadline",
            "R2161-2",
        ),
    ],
)
def test_publish_page_shows_blocking_rules(client, agent, fields, code, cited):
    consultation = _publishable(agent, **fields)
    response = client.get(_url("buyer_publish", consultation))
    page = text(response)
    errors = {c.code: c for c in response.context["report"].errors}
    assert code in errors
    assert cited in errors[code].message
    assert errors[code].message in page
    assert "Bloquant" in page
    assert "disabled" in page
    # Posting anyway is refused by the service with the same message; nothing changes.
    response = client.post(_url("buyer_publish", consultation))
    assert response.status_code == 400
    assert "La consultation ne peut pas être publiée" in text(response)
    consultation.refresh_from_db()
    assert consultation.state == "draft"
    assert not JournalEntry.objects.filter(action="consultation.published").exists()


def test_publish_success(client, agent):
    consultation = _publishable(agent)
    response = client.post(_url("buyer_publish", consultation), follow=True)
    assert response.redirect_chain[-1][0] == _url("buyer_detail", consultation)
    assert "La consultation est publiée" in text(response)
    consultation.refresh_from_db()
    assert consultation.state == "published"
    assert consultation.published_by == agent.user
    assert consultation.dce_versions.get().published_at is not None
    # Published: the publish page sends back to the detail.
    assert client.get(_url("buyer_publish", consultation)).status_code == 302


# --- Detail and outcome ---------------------------------------------------------------------------


def test_draft_detail_shows_the_checklist(client, agent):
    consultation = _draft(agent)
    page = text(client.get(_url("buyer_detail", consultation)))
    assert "Prochaines étapes" in page
    assert "Commission incomplète" in page
    assert "Décision" not in page  # no outcome for a draft
    assert reverse("marches:buyer_publish", args=[consultation.pk]) in page


def test_published_detail_offers_only_allowed_outcomes(client, agent):
    consultation = _draft(agent, published=True)
    response = client.get(_url("buyer_detail", consultation))
    choices = [value for value, _ in response.context["declare_form"].fields["outcome"].choices]
    assert choices == ["discontinued"]
    assert 'value="opened"' not in text(response)


def test_declare_discontinued_needs_a_reason(client, agent):
    consultation = _draft(agent, published=True)
    response = client.post(_url("buyer_declare", consultation), {"outcome": "discontinued"}, follow=True)
    assert "Indiquez le motif de la décision : il est obligatoire" in text(response)
    consultation.refresh_from_db()
    assert consultation.state == "published"
    response = client.post(
        _url("buyer_declare", consultation),
        {"outcome": "discontinued", "reason": "Besoin disparu"},
        follow=True,
    )
    assert "Sans suite" in text(response)
    consultation.refresh_from_db()
    assert consultation.state == "discontinued"
    entry = JournalEntry.objects.filter(action="consultation.transition").latest("seq")
    assert entry.payload == {"from": "published", "to": "discontinued", "reason": "Besoin disparu"}


def test_declare_an_outcome_not_allowed_is_refused(client, agent):
    consultation = _draft(agent, published=True)
    response = client.post(_url("buyer_declare", consultation), {"outcome": "awarded"}, follow=True)
    assert "Choisissez une décision possible" in text(response)
    consultation.refresh_from_db()
    assert consultation.state == "published"


# --- Download register ----------------------------------------------------------------------------


def _download(consultation, **kwargs):
    version = consultation.dce_versions.get(number=1)
    fields = {"name": "Jeanne Durand", "company_name": "Durand Bâtiment", "email": "jeanne@durand.fr"}
    fields.update(kwargs)
    return DceDownload.objects.create(consultation=consultation, version=version, **fields)


def test_register_page_and_csv(client, agent):
    consultation = _draft(agent, published=True)
    rc = consultation.dce_versions.get().files.get()
    _download(consultation, created_at=timezone.now() - timedelta(days=1))
    _download(consultation, name='=HYPERLINK("http://x")', company_name="Évil", email="e@x.fr", file=rc)
    page = text(client.get(_url("buyer_register", consultation)))
    assert "Jeanne Durand" in page
    assert "DCE complet" in page
    response = client.get(_url("buyer_register_csv", consultation))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "registre-retraits-" in response["Content-Disposition"]
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.removeprefix("\ufeff")), delimiter=";"))
    assert rows[0] == [
        "Date (heure de Paris)",
        "Nom",
        "Entreprise",
        "Adresse e-mail",
        "Version du DCE",
        "Fichier",
    ]
    assert rows[1][1:] == ['\'=HYPERLINK("http://x")', "Évil", "e@x.fr", "1", "RC.pdf"]
    assert rows[2][1:] == ["Jeanne Durand", "Durand Bâtiment", "jeanne@durand.fr", "1", "DCE complet"]
    entry = JournalEntry.objects.get(action="dce.register_exported")
    assert entry.actor_id == agent.user_id
    assert entry.target_id == str(consultation.pk)
    assert entry.payload == {"rows": 2}


def test_register_is_paginated_with_a_bounded_query_count(client, agent, django_assert_max_num_queries):
    consultation = _draft(agent, published=True)
    for i in range(60):
        _download(consultation, email=f"p{i}@exemple.fr")
    with django_assert_max_num_queries(12):
        response = client.get(_url("buyer_register", consultation))
    assert len(response.context["page"].object_list) == 50
    assert "Page 1 sur 2" in text(response)


# --- List -----------------------------------------------------------------------------------------


def _busy_consultation(agent, n):
    consultation = _draft(agent, published=True, with_lots=True, dce={"RC.pdf": b"rc", "CCTP.pdf": b"cctp"})
    for i in range(n):
        _download(consultation, email=f"p{i}@exemple.fr")
    return consultation


def test_list_counts_and_bounded_query_count(client, agent, django_assert_max_num_queries):
    first = _busy_consultation(agent, 3)
    _draft(agent)
    _busy_consultation(agent, 1)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("marches:buyer_list"))
    row = next(c for c in response.context["page"].object_list if c.pk == first.pk)
    assert (row.lot_count, row.dce_file_count, row.download_count) == (2, 2, 3)
    for _ in range(7):
        _busy_consultation(agent, 2)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("marches:buyer_list"))
    assert len(response.context["page"].object_list) == 10


def test_list_counts_files_of_the_version_in_preparation(client, agent):
    from ..factories import add_dce_file

    consultation = _draft(agent, published=True)
    from marches.models import DceVersion

    v2 = DceVersion.objects.create(consultation=consultation, number=2, created_by=agent.user)
    add_dce_file(v2, "RC.pdf", b"rc v2")
    add_dce_file(v2, "Annexe.pdf", b"annexe")
    response = client.get(reverse("marches:buyer_list"))
    (row,) = response.context["page"].object_list
    assert row.dce_file_count == 2


def test_list_shows_a_closed_consultation_as_closed(client, agent):
    _draft(agent, closed=True)
    page = text(client.get(reverse("marches:buyer_list")))
    assert "Clôturée" in page


def test_deadline_shown_with_its_time_zone(client, agent):
    consultation = _draft(agent, deadline=datetime(2030, 12, 16, 11, 0, tzinfo=ZoneInfo("UTC")))
    page = text(client.get(_url("buyer_detail", consultation)))
    assert "lundi 16 décembre 2030 à 12:00 (heure de Paris)" in page


def test_user_without_membership_is_refused(client):
    login_as(client, UserFactory())
    assert client.get(reverse("marches:buyer_list")).status_code == 403
