"""The platform's PDF documents, checked the way a reader meets them: poppler's pdftotext,
pdffonts, pdfinfo and pdftoppm on the rendered file, pyHanko's validation and `openssl ts`
on the sealed one."""

import asyncio
import concurrent.futures
import datetime as dt
import hashlib
import re
import shutil
import subprocess
from io import BytesIO

import pytest
from asn1crypto import cms
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko_certvalidator.registry import SimpleCertificateStore
from reportlab.pdfbase.ttfonts import TTFont

from config.errors import ApplicationError
from preuves import keys, pdf, timestamps, tsa

POPPLER = shutil.which("pdftotext") and shutil.which("pdffonts") and shutil.which("pdfinfo")
needs_poppler = pytest.mark.skipif(not POPPLER, reason="needs Debian's package poppler-utils")
OPENSSL = shutil.which("openssl")

HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
FRENCH = "éèàçùâêîôûëïÉÈÀÇœ’«»€—"
GENERATED_AT = dt.datetime(2025, 3, 30, 10, 0, tzinfo=dt.UTC)  # 12:00 in Paris (summer time)


def minutes(*, bidders: int = 3) -> bytes:
    return pdf.render(
        title="Procès-verbal d’ouverture des plis",
        subject="Consultation 2025-017 — rénovation énergétique de l’école Jules-Ferry",
        reference="PV-2025-017",
        generated_at=GENERATED_AT,
        sections=[
            pdf.Section(
                "Objet de la consultation",
                paragraphs=[
                    "Marché « Rénovation énergétique » — lots n° 2 & 3 <urgent>, estimé à 125\xa0000 € HT.",
                    "Ça s’ouvre à la Commission d’appel d’offres, réunie à Besançon.\nSeconde ligne.",
                ],
                rows=[
                    ("Acheteur", "Commune de Saint-Étienne-de-Tinée"),
                    ("Empreinte SHA-256 de l’archive", HASH),
                ],
            ),
            pdf.Section(
                "Plis reçus",
                table=[
                    ["N°", "Entreprise", "Déposé le", "Empreinte SHA-256"],
                    *(
                        [str(i), f"Société Générale de Façades n° {i}", "14/04/2025 à 09:12", HASH]
                        for i in range(1, bidders + 1)
                    ),
                ],
            ),
        ],
    )


def poppler(tool: str, document: bytes, tmp_path, *args: str) -> str:
    path = tmp_path / "document.pdf"
    path.write_bytes(document)
    output = ["-"] if tool == "pdftotext" else []
    return subprocess.run(
        [tool, *args, str(path), *output], capture_output=True, text=True, check=True
    ).stdout


# -- Rendering ---------------------------------------------------------------------------------


@needs_poppler
def test_text_comes_out_with_its_accents_and_hashes(tmp_path):
    text = poppler("pdftotext", minutes(), tmp_path, "-enc", "UTF-8")
    assert "Procès-verbal d’ouverture des plis" in text
    assert "Marché « Rénovation énergétique » — lots n° 2 & 3 <urgent>" in text  # escaped, not markup
    assert "€ HT" in text
    assert "Ça s’ouvre à la Commission d’appel d’offres, réunie à Besançon." in text
    assert "Commune de Saint-Étienne-de-Tinée" in text
    assert HASH in text  # whole in the label-value table, where it fits on one line
    # The identity of the platform and the footer, the time in Paris.
    assert "Marchés ouverts" in text
    assert "http://testserver" in text
    assert "Page 1 / 1 — PV-2025-017 — généré le 30/03/2025 à 12:00 (heure de Paris)" in text


@needs_poppler
def test_fonts_are_embedded_truetype(tmp_path):
    lines = poppler("pdffonts", minutes(), tmp_path).splitlines()[2:]
    assert lines, "no font found"
    for line in lines:
        name, kind, *_rest = line.split()
        emb = line.split()[-5]
        assert kind == "TrueType", line
        assert emb == "yes", line
        assert "Helvetica" not in name


@pytest.mark.parametrize("fallback", [False, True], ids=["dejavu", "vera"])
def test_the_fonts_have_every_french_glyph(tmp_path, fallback):
    files = pdf.font_files(tmp_path) if fallback else pdf.font_files()
    if fallback:
        assert all(path.parent == pdf.VERA for path in files)
    for path in files:
        cmap = TTFont("essai", str(path)).face.charToGlyph
        assert [char for char in FRENCH if ord(char) not in cmap] == [], path


@needs_poppler
def test_metadata_and_language(tmp_path):
    document = minutes()
    info = poppler("pdfinfo", document, tmp_path)
    assert "Title:           Procès-verbal d’ouverture des plis" in info
    assert "Author:          Marchés ouverts" in info
    assert "Subject:         Consultation 2025-017 — rénovation énergétique" in info
    assert "Creator:         Marchés ouverts (http://testserver)" in info
    reader = PdfFileReader(BytesIO(document))
    assert reader.root["/Lang"] == "fr-FR"
    assert reader.root["/ViewerPreferences"]["/DisplayDocTitle"]
    assert [entry["/Title"] for entry in _outline(reader)] == ["Objet de la consultation", "Plis reçus"]


def _outline(reader):
    entry = reader.root["/Outlines"]["/First"]
    while entry is not None:
        yield entry
        following = entry.get("/Next")  # an indirect reference, when there is one
        entry = following.get_object() if following is not None else None


@needs_poppler
def test_a_long_table_splits_across_pages_and_repeats_its_header(tmp_path):
    document = minutes(bidders=80)
    pages = len(PdfFileReader(BytesIO(document)).root["/Pages"]["/Kids"])
    assert pages >= 3
    for page in range(2, pages + 1):
        text = poppler("pdftotext", document, tmp_path, "-f", str(page), "-l", str(page), "-enc", "UTF-8")
        assert "Empreinte SHA-256" in text
        assert f"Page {page} / {pages} — PV-2025-017" in text
    last = poppler("pdftotext", document, tmp_path, "-f", str(pages), "-l", str(pages), "-enc", "UTF-8")
    assert "Société Générale de Façades n° 80" in " ".join(last.split())


@needs_poppler
def test_long_words_and_hashes_wrap_inside_the_page(tmp_path):
    word = "Anticonstitutionnellement" * 8
    document = pdf.render(
        title="Registre des dépôts",
        subject="Empreintes",
        sections=[
            pdf.Section(
                "Dépôts",
                paragraphs=[word],
                table=[["Pli", "Empreinte", "Empreinte bis", "Note"], ["1", HASH, HASH, word]],
            )
        ],
    )
    layout = poppler("pdftotext", document, tmp_path, "-bbox")
    width = float(re.search(r'<page width="([\d.]+)"', layout).group(1))
    right_edges = [float(x) for x in re.findall(r'<word xMin="[\d.]+" yMin="[\d.]+" xMax="([\d.]+)"', layout)]
    assert right_edges
    margin = 18 * 72 / 25.4
    assert max(right_edges) <= width - margin + 1
    text = poppler("pdftotext", document, tmp_path, "-enc", "UTF-8")
    assert HASH not in text.replace("\n", " ")  # it had to wrap, in a quarter of the page…
    assert HASH in re.sub(r"\s+", "", text)  # …and no character was lost


# -- Sealing and validation --------------------------------------------------------------------


@pytest.fixture(scope="module")
def sealed() -> bytes:
    return pdf.seal(minutes())


def test_a_sealed_document_validates(sealed):
    [report] = pdf.validate(sealed)
    assert report.field_name == "Cachet de la plateforme"
    assert report.kind == "signature"
    assert (
        report.signer
        == keys.material().seal_cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    )
    assert report.intact
    assert report.valid
    assert report.trusted
    assert report.coverage == "ENTIRE_FILE"
    assert report.covers_whole_document
    assert report.modification_level == "NONE"
    assert report.timestamp_present
    assert report.timestamp_valid
    assert "horodatage" in report.timestamp_authority
    assert abs(report.signed_at - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=60)
    assert report.bottom_line
    assert report.pyhanko_summary == "INTACT:TRUSTED,TIMESTAMP_TOKEN<INTACT:TRUSTED>,UNTOUCHED"
    assert report.summary.startswith("Signature « Cachet de la plateforme » de Marchés ouverts")
    assert ": valide, horodatée le " in report.summary
    assert "couvre l'intégralité du document" in report.summary
    assert "Problèmes" not in report.summary


def test_the_signature_is_pades_with_reason(sealed):
    [embedded] = PdfFileReader(BytesIO(sealed)).embedded_signatures
    assert embedded.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert embedded.sig_object["/Reason"] == "Cachet électronique de la plateforme"
    signed_attrs = {attribute["type"].native for attribute in embedded.signer_info["signed_attrs"]}
    assert "signing_certificate_v2" in signed_attrs  # PAdES baseline binds the certificate


def test_the_timestamp_token_passes_openssl(sealed, tmp_path):
    if not OPENSSL:
        pytest.skip("needs Debian's package openssl")
    [embedded] = PdfFileReader(BytesIO(sealed)).embedded_signatures
    token = pdf.signature_timestamp_token(embedded)
    assert token is not None
    (tmp_path / "token.der").write_bytes(token.dump())
    (tmp_path / "ca.pem").write_text(timestamps.ca_pem())
    # The token stamps the signature value (RFC 3161 appendix A, signature-time-stamp).
    digest = hashlib.sha256(embedded.signer_info["signature"].native).hexdigest()
    token_file, ca_file = str(tmp_path / "token.der"), str(tmp_path / "ca.pem")
    result = subprocess.run(
        [OPENSSL, "ts", "-verify", "-digest", digest, "-token_in", "-in", token_file, "-CAfile", ca_file],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Verification: OK" in result.stdout
    gen_time = cms.ContentInfo.load(token.dump())["content"]["encap_content_info"]["content"].parsed
    assert abs(gen_time["gen_time"].native - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=60)


def test_sealed_twice_both_validate(sealed):
    twice = pdf.seal(sealed, field_name="Signature d’Élodie Martin", reason="Membre de la commission")
    assert twice.startswith(sealed)  # an incremental update: the first revision is untouched
    first, second = pdf.validate(twice)
    assert first.field_name == "Cachet de la plateforme"
    assert second.field_name == "Signature d’Élodie Martin"
    assert (first.intact, first.valid, first.trusted, first.timestamp_valid) == (True, True, True, True)
    # pyHanko: the first signature covers its revision only; what came after is a new
    # signature field filled in, which it ranks as FORM_FILLING, allowed without DocMDP.
    assert first.coverage == "ENTIRE_REVISION"
    assert not first.covers_whole_document
    assert first.modification_level == "FORM_FILLING"
    assert first.modifications_allowed is True
    assert first.bottom_line
    assert first.pyhanko_summary.endswith("EXTENDED_WITH_FORM_FILLING,ACCEPTABLE_MODIFICATIONS")
    assert "seules des signatures ou saisies de formulaire ont été ajoutées depuis" in first.summary
    assert second.covers_whole_document
    assert second.bottom_line


def test_a_duplicate_field_name_is_refused(sealed):
    with pytest.raises(ApplicationError, match="déjà un champ de signature « Cachet de la plateforme »"):
        pdf.seal(sealed)


@pytest.mark.parametrize("name", ["", "  ", "Commission.Président"])
def test_an_invalid_field_name_is_refused(name):
    with pytest.raises(ApplicationError, match="nom de champ de signature invalide"):
        pdf.seal(minutes(), field_name=name)


def test_later_changes_that_are_not_signatures_are_reported(sealed):
    writer = IncrementalPdfFileWriter(BytesIO(sealed))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    added = writer.add_object(generic.StreamObject(stream_data=b"BT 100 100 Td (Pli n 4) Tj ET"))
    page["/Contents"] = generic.ArrayObject([page.raw_get("/Contents"), added])
    writer.update_container(page)
    output = BytesIO()
    writer.write(output)
    [report] = pdf.validate(output.getvalue())
    assert (report.intact, report.valid, report.trusted) == (True, True, True)  # what it signed is intact…
    assert report.coverage == "ENTIRE_REVISION"
    assert report.modification_level == "OTHER"  # …but the page was changed afterwards
    assert report.modifications_allowed is False
    assert not report.bottom_line
    assert "ILLEGAL_MODIFICATIONS" in report.pyhanko_summary
    assert "non valide" in report.summary
    assert "le document a été modifié depuis, et pas seulement par des signatures" in report.summary


def _signed_range_end(document: bytes) -> int:
    [embedded] = PdfFileReader(BytesIO(document)).embedded_signatures
    start, length, *_rest = embedded.sig_object["/ByteRange"]
    return start + length


def test_a_changed_word_in_the_signed_metadata_fails(sealed):
    position = sealed.index(b"ReportLab PDF Library")
    assert position < _signed_range_end(sealed)
    tampered = sealed[:position] + b"ReportLab PDF Librarx" + sealed[position + 21 :]
    [report] = pdf.validate(tampered)
    assert not report.intact
    assert not report.bottom_line
    assert "le contenu signé a été modifié" in report.summary


def test_a_flipped_byte_in_the_page_content_stream_fails(sealed):
    contents = PdfFileReader(BytesIO(sealed)).root["/Pages"]["/Kids"][0].raw_get("/Contents")
    position = sealed.index(b"stream\n", sealed.index(b"\n%d 0 obj\n" % contents.idnum)) + 40
    assert position < _signed_range_end(sealed)
    tampered = sealed[:position] + bytes([sealed[position] ^ 0x01]) + sealed[position + 1 :]
    [report] = pdf.validate(tampered)
    assert not report.intact
    assert not report.bottom_line


@pytest.fixture(scope="module")
def stranger() -> signers.SimpleSigner:
    """A signer whose certificate comes from an authority the platform does not know."""
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Autorité inconnue")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    usage = x509.KeyUsage(True, True, False, False, False, False, False, False, False)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Jean Dupont")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(usage, critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    def der(cert):
        return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))

    private = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return signers.SimpleSigner(
        signing_cert=der(certificate),
        signing_key=asn1_keys.PrivateKeyInfo.load(private),
        cert_registry=SimpleCertificateStore.from_certs([der(ca)]),
    )


def test_a_certificate_from_another_authority_is_intact_but_not_trusted(stranger):
    signed = pdf.seal(minutes(), field_name="Signature de Jean Dupont", signer=stranger)
    [report] = pdf.validate(signed)
    assert report.signer == "Jean Dupont"
    assert report.intact
    assert report.valid
    assert not report.trusted
    assert report.timestamp_valid  # the platform's TSA stamped it all the same
    assert not report.bottom_line
    assert "ne remonte à aucune autorité reconnue par la plateforme" in report.summary


def test_the_tsa_authority_does_not_make_document_signers_trusted(stranger, settings, tmp_path):
    """With an external TSA whose CA bundle is a commercial CA's, a document signed by any
    certificate of that CA must not come out trusted: signers and timestamps have their own
    roots."""
    signed = pdf.seal(minutes(), field_name="Signature de Jean Dupont", signer=stranger)
    stranger_ca = stranger.cert_registry
    bundle = tmp_path / "tsa-ca.pem"
    bundle.write_bytes(
        b"".join(
            x509.load_der_x509_certificate(cert.dump()).public_bytes(serialization.Encoding.PEM)
            for cert in stranger_ca
        )
        + keys.material().ca_pem.encode()
    )
    settings.TSA_URL = "https://tsa.example.eu/tsp"
    settings.TSA_CA_BUNDLE = str(bundle)
    [report] = pdf.validate(signed)
    assert report.intact
    assert not report.trusted


def test_a_platform_seal_then_a_stranger(sealed, stranger):
    signed = pdf.seal(sealed, field_name="Signature de Jean Dupont", signer=stranger)
    platform, member = pdf.validate(signed)
    assert platform.bottom_line
    assert platform.modification_level == "FORM_FILLING"
    assert member.intact
    assert not member.trusted


@pytest.mark.parametrize("garbage", [b"", b"bonjour", b"%PDF-1.7\nrien du tout", minutes()[:500]])
def test_a_non_pdf_is_refused_in_french(garbage):
    with pytest.raises(ApplicationError, match="ce fichier n'est pas un PDF lisible"):
        pdf.seal(garbage)
    with pytest.raises(ApplicationError, match="ce fichier n'est pas un PDF lisible"):
        pdf.validate(garbage)


def test_an_unsigned_pdf_has_no_signature():
    assert pdf.validate(minutes()) == []


def test_reports_are_frozen(sealed):
    [report] = pdf.validate(sealed)
    with pytest.raises(AttributeError):
        report.trusted = False


# -- The timestamper ---------------------------------------------------------------------------


def run_coroutine(make):
    """asyncio.run in a thread of its own: the browser tests leave Playwright's event loop
    running in the main thread, where asyncio.run is refused."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(lambda: asyncio.run(make())).result()


def test_the_dummy_response_for_size_estimation_is_a_real_verified_token():
    token = run_coroutine(lambda: pdf.PlatformTimeStamper().async_dummy_response("sha256"))
    assert token["content_type"].native == "signed_data"
    info = token["content"]["encap_content_info"]["content"].parsed
    assert abs(info["gen_time"].native - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=60)


def test_a_replayed_timestamp_reply_stops_the_seal(monkeypatch):
    query, _nonce = timestamps.build_query(hashlib.sha256(b"autre chose").digest())
    stale = timestamps.exchange(query)
    monkeypatch.setattr(timestamps, "exchange", lambda _query: stale)
    with pytest.raises(timestamps.TimestampError, match="nonce"):
        pdf.seal(minutes())


def test_a_refusal_of_the_authority_stops_the_seal_with_its_reason(monkeypatch):
    refusal = tsa.rejection_response(
        tsa.RejectionError("service d'horodatage en maintenance", "system_failure")
    )
    monkeypatch.setattr(timestamps, "exchange", lambda _query: refusal.dump())
    with pytest.raises(timestamps.TimestampError, match="a refusé la requête : service d'horodatage en"):
        pdf.seal(minutes())


def test_sealing_works_inside_a_running_event_loop(sealed):
    async def from_an_async_view():
        return pdf.seal(sealed, field_name="Depuis une vue asynchrone"), pdf.validate(sealed)

    twice, reports = run_coroutine(from_an_async_view)
    assert [r.bottom_line for r in reports] == [True]
    assert [r.bottom_line for r in pdf.validate(twice)] == [True, True]
