"""The receipt (accusé de réception) of a deposit: the five legal fields — who deposited, the
buyer, the consultation's title and object, the date and time of reception, the detailed
list of documents — with each file's size and digest, the deposit digest, the timestamp and
the transparency-log proof. Shown by the API, e-mailed, and downloadable as a PDF sealed by
the platform and as a proof bundle that `python preuves/verifier.py` checks offline.

The public log's leaf says nothing of the deposit, only a commitment (offres/commitments.py):
the receipt is what opens it. The bundle carries the opening (`commitment_opening`: the facts
and the nonce), the PDF prints it; keep them, they are the company's proof that the leaf is
its deposit."""

from __future__ import annotations

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.mail import EmailMessage

from preuves import log as preuves_log
from preuves import pdf, verifier

from . import commitments

ENVELOPES = {"application": "candidature", "offer": "offre"}
TEST_MENTION = (
    "DÉPÔT DE TEST sur la consultation de test de la plateforme : déchiffré par la plateforme dès "
    "réception pour contrôle, sans valeur d'offre"
)


def bundle(deposit) -> dict:
    """The proof bundle, with the opening of the leaf's commitment."""
    return {
        **preuves_log.bundle(deposit.log_index, token=deposit.timestamp),
        "commitment_opening": commitments.opening(deposit),
    }


def commitment_rows(deposit) -> list[tuple[str, str]]:
    """The opening of the leaf's commitment, as the PDF and the e-mail print it."""
    opening = commitments.opening(deposit)
    return [
        (
            "Engagement publié (SHA-256)",
            verifier.deposit_commitment(opening["facts"], bytes.fromhex(opening["nonce"])).hex(),
        ),
        ("Aléa de l'engagement", opening["nonce"]),
        ("Faits engagés (JSON canonique)", verifier.canonical_json(opening["facts"]).decode()),
    ]


def legal_fields(deposit) -> list[tuple[str, str]]:
    manifest = deposit.manifest
    company = manifest["company"]
    consultation = manifest["consultation"]
    return [
        ("Déposé par", f"{company['name']} ({company['identifier']}), {manifest['deposited_by']}"),
        ("Acheteur", manifest["buyer"]),
        ("Consultation", f"{consultation['reference']} — {consultation['title']}"),
        ("Date et heure de réception", pdf.paris_time(deposit.received_at, milliseconds=True)),
        (
            "Délai",
            "HORS DÉLAI : reçu après la date limite, conservé et jamais ouvert"
            if deposit.late
            else "dans le délai",
        ),
        *([("Dépôt de test", TEST_MENTION)] if deposit.consultation.is_test else []),
    ]


def receipt_pdf(deposit) -> bytes:
    """The sealed PDF, generated once and kept in storage."""
    name = f"recus/{deposit.public_id}.pdf"
    if default_storage.exists(name):
        with default_storage.open(name, "rb") as handle:
            return handle.read()
    manifest = deposit.manifest
    token = deposit.timestamp
    stamped_at = pdf.paris_time(token.gen_time, milliseconds=True)
    proof = preuves_log.inclusion(
        deposit.log_index, preuves_log.checkpoint(covering=deposit.log_index + 1).size
    )
    sections = [
        pdf.Section(heading="Accusé de réception", rows=legal_fields(deposit)),
        pdf.Section(
            heading="Documents reçus",
            paragraphs=[
                (
                    "Fichiers chiffrés (age) tels que reçus ; leur contenu n'est lisible qu'à l'ouverture "
                    "des plis."
                    if not deposit.consultation.is_test
                    else "Fichiers chiffrés (age) tels que reçus, pour la consultation de test : la "
                    "plateforme, qui en détient la clé, les a déchiffrés pour contrôle."
                )
            ],
            table=[
                ["Enveloppe", "Fichier", "Taille (octets)", "SHA-256 du fichier chiffré"],
                *[
                    [ENVELOPES[f["envelope"]], f["name"], str(f["size"]), f["sha256"]]
                    for f in manifest["files"]
                ],
            ],
        ),
        pdf.Section(
            heading="Preuves",
            rows=[
                ("Empreinte du bordereau (SHA-256)", deposit.digest),
                (
                    "Horodatage (RFC 3161)",
                    f"{stamped_at}, {token.tsa_name}, n° {token.serial_number}",
                ),
                (
                    "Journal de transparence",
                    f"feuille n° {proof['index']} d'un arbre de {verifier.count(proof['size'], 'feuille')}",
                ),
            ],
            paragraphs=[
                (
                    "Téléchargez le paquet de preuve de ce pli et vérifiez-le sans faire confiance à la "
                    "plateforme : python preuves/verifier.py preuve.json --log-key journal.pem "
                    "--tsa-ca tsa-ca.pem --data bordereau.json"
                )
            ],
        ),
        pdf.Section(
            heading="Engagement dans le journal de transparence",
            paragraphs=[
                (
                    "Jusqu'à l'ouverture des plis, la feuille publique de ce pli ne dit ni la consultation, "
                    "ni l'entreprise, ni la taille : elle ne porte qu'un engagement sur les faits ci-dessous "
                    "et un aléa que seul cet accusé de réception contient. Avec eux, vous prouvez que cette "
                    "feuille est votre pli ; gardez-les."
                )
            ],
            rows=commitment_rows(deposit),
        ),
    ]
    document = pdf.render(
        title="Accusé de réception d'un pli"
        + (" — HORS DÉLAI" if deposit.late else "")
        + (" — DÉPÔT DE TEST" if deposit.consultation.is_test else ""),
        subject=f"{manifest['consultation']['reference']} — {manifest['consultation']['title']}",
        sections=sections,
        reference=f"pli {deposit.public_id}",
    )
    sealed = pdf.seal(document)
    default_storage.save(name, ContentFile(sealed))
    return sealed


def send_receipt(deposit) -> None:
    fields = "\n".join(f"- {label} : {value}" for label, value in legal_fields(deposit))
    files = "\n".join(
        f"  - [{ENVELOPES[f['envelope']]}] {f['name']}, {f['size']} octets, SHA-256 {f['sha256']}"
        for f in deposit.manifest["files"]
    )
    base = f"{settings.SITE_URL}/api/v1/depots/{deposit.public_id}"
    test = deposit.consultation.is_test
    opening = (
        "Votre dépôt de test a été reçu (la plateforme le déchiffre pour contrôle)."
        if test
        else "Votre pli a été reçu."
    )
    subject = "Dépôt de test reçu" if test else "Accusé de réception de votre pli"
    message = EmailMessage(
        subject=f"{subject} — {deposit.manifest['consultation']['reference']}",
        body=(
            f"{opening}\n\n"
            f"{fields}\n- Documents :\n{files}\n\n"
            f"Empreinte du bordereau : {deposit.digest}\n"
            f"Engagement publié dans le journal de transparence : {commitment_rows(deposit)[0][1]} "
            "(le paquet de preuve en contient l'ouverture : gardez-le)\n"
            f"Accusé de réception scellé (PDF) : {base}/accuse.pdf\n"
            f"Paquet de preuve : {base}/preuve\n"
        ),
        to=[deposit.created_by.email],
    )
    message.attach(f"accuse-{deposit.public_id}.pdf", receipt_pdf(deposit), "application/pdf")
    message.send()
