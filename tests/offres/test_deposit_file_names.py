"""Deposit file names follow the DCE's rules (marches.archive.safe_relative_path and
marches.names), through the API a bidder with the `age` command line uses: announce a
deposit, then its files. A refused name is named in French and nothing is announced."""

import pytest

from offres.models import DepositFile

pytestmark = pytest.mark.django_db


@pytest.fixture
def deposit_url(client, bidder, published):
    consultation, _ = published
    _, token = bidder
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    response = client.post(
        "/api/v1/depots/", {"consultation": consultation.pk}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    return f"/api/v1/depots/{response.json()['id']}/fichiers/"


def announce(client, url, name, envelope="offer"):
    return client.post(
        url, {"envelope": envelope, "name": name, "size": 1000}, content_type="application/json"
    )


def refused(client, url, name, *words):
    response = announce(client, url, name)
    assert response.status_code in (400, 409), response.content
    message = response.json()["error"]["message"]
    for word in words:
        assert word in message, message
    assert not DepositFile.objects.exists()
    return message


def test_a_right_to_left_override_is_refused_and_named(client, deposit_url):
    message = refused(client, deposit_url, "rapport\u202efdp.exe", "caractères de contrôle")
    # Named, with the override made harmless: the message cannot display as « rapportexe.pdf ».
    assert "« rapport\ufffdfdp.exe »" in message
    assert "\u202e" not in message


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("offre\u2067.pdf", "caractères de contrôle"),  # right-to-left isolate
        ("offre\x07.pdf", "caractères de contrôle"),
        ("offre\tfinale.pdf", "caractères de contrôle"),
        ("..", "remonte dans l'arborescence"),
        ("dossier/offre.pdf", "barre oblique"),
        ("dossier\\offre.pdf", "barre oblique"),
        ("./offre.pdf", "barre oblique"),
        ("/etc/passwd", "chemin absolu"),
        ("C:offre.pdf", "lecteur"),
        ("CON", "nom réservé par Windows"),
        ("nul.pdf.age", "nom réservé par Windows"),
        ("é" * 128 + ".age", "dépasse 255 octets"),
        (".", "le nom est vide"),
    ],
)
def test_names_the_dce_refuses_are_refused(client, deposit_url, name, reason):
    message = refused(client, deposit_url, name, reason)
    assert message.startswith("Le nom de fichier « ")


def test_a_nul_character_is_refused_in_french(client, deposit_url):
    response = announce(client, deposit_url, "offre\x00.pdf")
    assert response.status_code == 400
    assert "caractère nul" in response.json()["error"]["message"]
    assert not DepositFile.objects.exists()


def test_a_name_is_stored_nfc(client, deposit_url):
    response = announce(client, deposit_url, "me\u0301moire technique.pdf.age")
    assert response.status_code == 201, response.content
    assert DepositFile.objects.get().name == "m\u00e9moire technique.pdf.age"


def test_duplicates_within_an_envelope_are_refused_whatever_the_case_or_normalisation(client, deposit_url):
    assert announce(client, deposit_url, "M\u00e9moire.pdf.age").status_code == 201
    for twin in ("m\u00e9moire.PDF.age", "Me\u0301moire.pdf.age", "ME\u0301MOIRE.PDF.AGE"):
        response = announce(client, deposit_url, twin)
        assert response.status_code == 409, response.content
        message = response.json()["error"]["message"]
        assert "« M\u00e9moire.pdf.age »" in message, message
    assert DepositFile.objects.count() == 1
    # The other envelope is another folder: the same name is fine there.
    assert announce(client, deposit_url, "m\u00e9moire.pdf.age", envelope="application").status_code == 201


def test_case_twin_message(client, deposit_url):
    assert announce(client, deposit_url, "offre.pdf.age").status_code == 201
    response = announce(client, deposit_url, "OFFRE.pdf.age")
    assert response.json()["error"]["message"] == (
        "L'enveloppe contiendrait deux éléments de même nom : « offre.pdf.age » et « OFFRE.pdf.age » "
        "(majuscules et minuscules confondues). Renommez l'un des deux fichiers."
    )


def test_ordinary_names_are_accepted(client, deposit_url):
    for name in (
        "offre.pdf.age",
        "Mémoire technique (v2) — lot 1.docx.age",
        "CONTRAT.pdf.age",
        "console.age",
    ):
        assert announce(client, deposit_url, name).status_code == 201, name


def test_the_register_shows_counts_and_sizes_never_names(client, published, buyer_agent):
    """Before the opening, buyer staff see how many files and how many bytes, not the names:
    a name (« offre-entreprise-X-prix-bas.pdf ») can reveal the offer."""
    from tests.factories import MembershipFactory
    from tests.helpers import login_as, text

    from . import builders

    consultation, _ = published
    company = MembershipFactory(company_admin=True)
    files = [
        ("offer", "NOM-REVELATEUR-prix.pdf.age", builders.encrypt_to(consultation, "offer", b"offre")),
        ("offer", "NOM-REVELATEUR-bpu.xlsx.age", builders.encrypt_to(consultation, "offer", b"bordereau")),
    ]
    builders.receive(consultation, company.user, files, company=company.organisation)
    size = sum(len(data) for _, _, data in files)
    login_as(client, buyer_agent.user)
    page = text(client.get(f"/plis/acheteur/{consultation.pk}/registre-des-depots/"))
    assert company.organisation.name in page
    assert "<td>2</td>" in page  # two files
    assert f"{size} octets" in page.replace("\xa0", " ")
    assert "NOM-REVELATEUR" not in page
    csv = b"".join(client.get(f"/plis/acheteur/{consultation.pk}/registre-des-depots.csv").streaming_content)
    assert f";2;{size};".encode() in csv
    assert b"NOM-REVELATEUR" not in csv
