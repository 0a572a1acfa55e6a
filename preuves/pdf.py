"""The platform's PDF documents: rendered with reportlab, sealed with pyHanko (PAdES B-T).

`render()` turns a small document model (`Section`s of paragraphs, label-value rows and
tables) into a PDF that carries the platform's identity (a header band with its name and
address, a footer "Page n / N — reference — généré le …" on every page) and stays
accessible: real text in embedded TrueType fonts (DejaVu Sans from Debian's fonts-dejavu-core,
else Vera shipped inside reportlab), Title/Author/Subject/Creator metadata shown as the window
title, `/Lang (fr-FR)` in the catalog, an outline of the sections, tables that split across
pages with their header row repeated, and long words — 64-hex-digit hashes, set in a small
monospace font — that wrap instead of running off the page.

`seal()` appends a PAdES signature in an incremental update, so that the platform's seal and
then each member's signature can follow one another on the same document. Its timestamp
comes from `PlatformTimeStamper`, which goes through `preuves.timestamps` like every other
token of the platform: the same authority and the same verification before use.

`validate()` reports, for every signature embedded in a PDF, what pyHanko's validation says,
with the platform's authority and the TSA's authorities as the only trust roots.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import logging
import re
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from io import BytesIO
from pathlib import Path
from xml.sax.saxutils import escape

import reportlab
from asn1crypto import cms, tsp
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.general import SigningError
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.validation import (
    SignatureCoverageLevel,
    validate_pdf_signature,
    validate_pdf_timestamp,
)
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    BaseDocTemplate,
    CondPageBreak,
    Frame,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from config.errors import ApplicationError

from . import keys, timestamps

logger = logging.getLogger(__name__)

PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def paris_time(moment: dt.datetime, *, milliseconds: bool = False) -> str:
    """A moment as the documents print it: « 02/12/2026 à 07:00:00,123 (heure de Paris) »."""
    local = moment.astimezone(PARIS)
    fraction = f",{local.microsecond // 1000:03d}" if milliseconds else ""
    return f"{local:%d/%m/%Y à %H:%M:%S}{fraction} (heure de Paris)"


DEFAULT_FIELD_NAME = "Cachet de la plateforme"
DEFAULT_REASON = "Cachet électronique de la plateforme"

# -- Fonts -------------------------------------------------------------------------------------

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
VERA = Path(reportlab.__file__).parent / "fonts"
TEXT, BOLD, MONO = "PlateformeTexte", "PlateformeTexteGras", "PlateformeChasseFixe"


def font_files(dejavu: Path = DEJAVU) -> tuple[Path, Path, Path]:
    """Regular, bold and monospace TrueType files: DejaVu when Debian's fonts-dejavu-core is
    installed, else the Vera family that ships inside reportlab (the same design with fewer
    scripts; both cover French, ’ « » € and —). Vera has no monospace face: hashes then fall
    back to Vera Sans, which wraps just as well."""
    regular, bold, mono = (
        dejavu / "DejaVuSans.ttf",
        dejavu / "DejaVuSans-Bold.ttf",
        dejavu / "DejaVuSansMono.ttf",
    )
    if not (regular.exists() and bold.exists()):
        return VERA / "Vera.ttf", VERA / "VeraBd.ttf", VERA / "Vera.ttf"
    return regular, bold, mono if mono.exists() else regular


@cache
def _register_fonts() -> None:
    regular, bold, mono = font_files()
    pdfmetrics.registerFont(TTFont(TEXT, str(regular)))
    pdfmetrics.registerFont(TTFont(BOLD, str(bold)))
    pdfmetrics.registerFont(TTFont(MONO, str(mono)))
    # <b> inside a paragraph picks the bold face; there is no italic face on purpose.
    pdfmetrics.registerFontFamily(TEXT, normal=TEXT, bold=BOLD, italic=TEXT, boldItalic=BOLD)


# -- Document model ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Section:
    """One titled part of a document: paragraphs, then label-value rows, then a table whose
    first row is its header. Every text is plain text (escaped here), newlines kept."""

    heading: str
    paragraphs: Sequence[str] = field(default_factory=list)
    rows: Sequence[tuple[str, str]] = field(default_factory=list)
    table: Sequence[Sequence[str]] | None = None


BLUE_FRANCE = colors.HexColor("#000091")
TEXT_COLOUR = colors.HexColor("#161616")
MUTED = colors.HexColor("#3a3a3a")
RULE = colors.HexColor("#929292")
LABEL_BACKGROUND = colors.HexColor("#f6f6f6")
HEADER_BACKGROUND = colors.HexColor("#e3e3fd")

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 18 * mm
BAND_HEIGHT = 15 * mm
FOOTER_HEIGHT = 14 * mm
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN
HASH = re.compile(r"\b[0-9A-Fa-f]{32,}\b")
CELL_SIZE, HASH_SIZE, CELL_PADDING = 8.5, 7.5, 5
# reportlab breaks lines at U+202F (the narrow no-break space of French typography, before
# « : ; ! ? » and in numbers): it is set as a no-break space, which reportlab keeps together.
NO_BREAK = str.maketrans({"\u202f": "\xa0", "\u2007": "\xa0"})


@cache
def _styles() -> dict[str, ParagraphStyle]:
    _register_fonts()
    base = ParagraphStyle(
        "corps", fontName=TEXT, fontSize=9.5, leading=13.5, textColor=TEXT_COLOUR, alignment=TA_LEFT
    )
    return {
        "title": ParagraphStyle("titre", base, fontName=BOLD, fontSize=17, leading=21, spaceAfter=4),
        "subject": ParagraphStyle("objet", base, fontSize=10.5, leading=14, textColor=MUTED, spaceAfter=2),
        "reference": ParagraphStyle("reference", base, fontSize=8.5, leading=12, textColor=MUTED),
        "heading": ParagraphStyle(
            "intertitre",
            base,
            fontName=BOLD,
            fontSize=12.5,
            leading=16,
            textColor=BLUE_FRANCE,
            spaceBefore=12,
            spaceAfter=5,
        ),
        "body": ParagraphStyle("paragraphe", base, spaceAfter=5),
        "cell": ParagraphStyle("cellule", base, fontSize=CELL_SIZE, leading=11),
        "label": ParagraphStyle("libelle", base, fontName=BOLD, fontSize=CELL_SIZE, leading=11),
    }


def _markup(text: str) -> str:
    """Plain text as reportlab paragraph markup: escaped, line breaks kept, hashes in the
    monospace face (reportlab's splitLongWords then breaks them at the column edge)."""
    escaped = escape(str(text).translate(NO_BREAK)).replace("\n", "<br/>")
    return HASH.sub(lambda match: f'<font name="{MONO}" size="{HASH_SIZE}">{match.group(0)}</font>', escaped)


class _Heading(Paragraph):
    """A section heading, which also becomes an entry of the PDF outline."""


def _flowables(*, title: str, subject: str, sections: Sequence[Section], reference: str) -> list:
    styles = _styles()
    story: list = [Paragraph(_markup(title), styles["title"])]
    if subject:
        story.append(Paragraph(_markup(subject), styles["subject"]))
    if reference:
        story.append(Paragraph(_markup(f"Référence : {reference}"), styles["reference"]))
    story.append(Spacer(1, 4 * mm))
    for section in sections:
        # Rather than keepWithNext, which would push a long table whole onto the next page:
        # a heading starts a new page only when a few lines would not follow it.
        story.append(CondPageBreak(35 * mm))
        story.append(_Heading(_markup(section.heading), styles["heading"]))
        story.extend(Paragraph(_markup(text), styles["body"]) for text in section.paragraphs)
        if section.rows:
            story.append(_label_value_table(section.rows))
        if section.table:
            story.append(_table(section.table))
    return story


def _grid(extra: Sequence[tuple]) -> TableStyle:
    return TableStyle(
        [
            # Cells are paragraphs with their own fonts; without this, reportlab still selects
            # Helvetica (never embedded) before drawing each cell.
            ("FONTNAME", (0, 0), (-1, -1), TEXT),
            ("GRID", (0, 0), (-1, -1), 0.5, RULE),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("TOPPADDING", (0, 0), (-1, -1), 3),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
            ("LEFTPADDING", (0, 0), (-1, -1), CELL_PADDING),
            ("RIGHTPADDING", (0, 0), (-1, -1), CELL_PADDING),
            *extra,
        ]
    )


def _label_value_table(rows: Sequence[tuple[str, str]]) -> Table:
    styles = _styles()
    data = [
        [Paragraph(_markup(label), styles["label"]), Paragraph(_markup(value), styles["cell"])]
        for label, value in rows
    ]
    table = Table(data, colWidths=[0.32 * CONTENT_WIDTH, 0.68 * CONTENT_WIDTH], hAlign="LEFT", spaceAfter=6)
    table.setStyle(_grid([("BACKGROUND", (0, 0), (0, -1), LABEL_BACKGROUND)]))
    return table


def _table(rows: Sequence[Sequence[str]]) -> Table:
    styles = _styles()
    header, *body = rows
    width = len(header)
    data = [[Paragraph(_markup(cell), styles["label"]) for cell in header]]
    for row in body:
        cells = [*row, *[""] * (width - len(row))][:width]
        data.append([Paragraph(_markup(cell), styles["cell"]) for cell in cells])
    widths = _column_widths([[*header], *[[*row] for row in body]], width)
    table = Table(data, colWidths=widths, repeatRows=1, hAlign="LEFT", spaceAfter=6)
    table.setStyle(_grid([("BACKGROUND", (0, 0), (-1, 0), HEADER_BACKGROUND)]))
    return table


def _text_width(text: str, font: str) -> float:
    """The width of `text` on one line, hashes in the monospace face."""
    width, position = 0.0, 0
    for match in HASH.finditer(text):
        width += pdfmetrics.stringWidth(text[position : match.start()], font, CELL_SIZE)
        width += pdfmetrics.stringWidth(match.group(0), MONO, HASH_SIZE)
        position = match.end()
    return width + pdfmetrics.stringWidth(text[position:], font, CELL_SIZE)


def _column_widths(rows: list[list[str]], count: int) -> list[float]:
    """Column widths from the content, the way a browser lays out an automatic table: each
    column gets at least its longest word (up to an equal share), and the rest of the width
    goes to the columns whose text would otherwise wrap most."""
    padding = 2 * CELL_PADDING + 1
    natural, minimum = [padding] * count, [padding] * count
    for index, row in enumerate(rows):
        font = BOLD if index == 0 else TEXT
        for column, cell in enumerate(row[:count]):
            text = str(cell).translate(NO_BREAK)
            lines = text.split("\n")
            natural[column] = max(natural[column], padding + max(_text_width(line, font) for line in lines))
            words = text.split()
            if words:
                longest = max(_text_width(word, font) for word in words)
                minimum[column] = max(minimum[column], padding + longest)
    minimum = [min(width, CONTENT_WIDTH / count) for width in minimum]
    if sum(natural) <= CONTENT_WIDTH:
        return [width * CONTENT_WIDTH / sum(natural) for width in natural]
    spare = CONTENT_WIDTH - sum(minimum)
    wanted = [max(n - m, 0) for n, m in zip(natural, minimum, strict=True)]
    total_wanted = sum(wanted) or 1
    return [m + spare * w / total_wanted for m, w in zip(minimum, wanted, strict=True)]


class _Document(BaseDocTemplate):
    def __init__(self, output, *, footer: str, total_pages: int | None, **kwargs) -> None:
        super().__init__(
            output,
            pagesize=A4,
            leftMargin=MARGIN,
            rightMargin=MARGIN,
            topMargin=BAND_HEIGHT + 9 * mm,
            bottomMargin=FOOTER_HEIGHT + 4 * mm,
            lang="fr-FR",
            displayDocTitle=True,
            # Else reportlab declares Helvetica, never embedded, on every page.
            initialFontName=TEXT,
            author=settings.PLATFORM_NAME,
            creator=f"{settings.PLATFORM_NAME} ({settings.SITE_URL})",
            **kwargs,
        )
        self.footer = footer
        self.total_pages = total_pages
        frame = Frame(self.leftMargin, self.bottomMargin, self.width, self.height, id="contenu")
        self.addPageTemplates([PageTemplate(id="page", frames=[frame], onPage=self._decorate)])
        self._headings = 0

    def afterFlowable(self, flowable) -> None:  # noqa: N802 (reportlab's hook)
        if isinstance(flowable, _Heading):
            self._headings += 1
            key = f"section-{self._headings}"
            self.canv.bookmarkPage(key)
            self.canv.addOutlineEntry(flowable.getPlainText(), key, level=0)

    def _decorate(self, canvas, document) -> None:
        canvas.saveState()
        canvas.setFillColor(BLUE_FRANCE)
        canvas.rect(0, PAGE_HEIGHT - BAND_HEIGHT, PAGE_WIDTH, BAND_HEIGHT, stroke=0, fill=1)
        canvas.setFillColor(colors.white)
        baseline = PAGE_HEIGHT - BAND_HEIGHT / 2 - 4
        canvas.setFont(BOLD, 13)
        canvas.drawString(MARGIN, baseline, settings.PLATFORM_NAME)
        canvas.setFont(TEXT, 9)
        canvas.drawRightString(PAGE_WIDTH - MARGIN, baseline + 1, settings.SITE_URL)
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.5)
        canvas.line(MARGIN, FOOTER_HEIGHT, PAGE_WIDTH - MARGIN, FOOTER_HEIGHT)
        canvas.setFillColor(MUTED)
        canvas.setFont(TEXT, 8)
        total = self.total_pages or document.page
        canvas.drawCentredString(
            PAGE_WIDTH / 2, FOOTER_HEIGHT - 10, f"Page {document.page} / {total}{self.footer}"
        )
        canvas.restoreState()


def render(
    *,
    title: str,
    subject: str,
    sections: Sequence[Section],
    reference: str = "",
    generated_at: dt.datetime | None = None,
) -> bytes:
    """The PDF of a document, ready for `seal()`."""
    generated_at = (generated_at or dt.datetime.now(dt.UTC)).astimezone(PARIS)
    parts = [reference] if reference else []
    parts.append(f"généré le {generated_at:%d/%m/%Y à %H:%M} (heure de Paris)")
    footer = "".join(f" — {part}" for part in parts)
    _register_fonts()
    metadata = {"title": title, "subject": subject, "keywords": [reference] if reference else []}
    # Two passes: the first counts the pages that "Page n / N" needs; the footer's width does
    # not move the text, so the second lays out the same pages.
    counted = _Document(BytesIO(), footer=footer, total_pages=None, **metadata)
    counted.build(_flowables(title=title, subject=subject, sections=sections, reference=reference))
    output = BytesIO()
    document = _Document(output, footer=footer, total_pages=counted.page, **metadata)
    document.build(_flowables(title=title, subject=subject, sections=sections, reference=reference))
    return output.getvalue()


# -- Timestamps --------------------------------------------------------------------------------


class PlatformTimeStamper(TimeStamper):
    """pyHanko's timestamp client, through the platform's own RFC 3161 path: the configured
    authority (embedded or external) and the same verification as every other token
    (`timestamps.verify_reply`: rfc3161-client and verifier.py's checks, imprint, nonce,
    policy) before pyHanko sees the reply.

    pyHanko also asks it once per instance for a token over a dummy digest, to size the
    signature placeholder: that is an ordinary request, verified like the others."""

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        verified = timestamps.verify_reply(
            timestamps.exchange(req.dump()),
            hashed_message=req["message_imprint"]["hashed_message"].native,
            nonce=req["nonce"].native,
            algorithm=req["message_imprint"]["hash_algorithm"]["algorithm"].native,
        )
        # The verified copy, its certificates in DER order: the one the client would store.
        return tsp.TimeStampResp.load(verified.reply)


# -- Sealing -----------------------------------------------------------------------------------


def _asn1_certificate(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def platform_signer() -> signers.SimpleSigner:
    """The platform's seal, from keys.material() (or the qualified seal of PDF_SEAL_*)."""
    material = keys.material()
    private_key = material.seal_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return signers.SimpleSigner(
        signing_cert=_asn1_certificate(material.seal_cert),
        signing_key=asn1_keys.PrivateKeyInfo.load(private_key),
        cert_registry=SimpleCertificateStore.from_certs([_asn1_certificate(c) for c in material.seal_chain]),
    )


def _outside_event_loop(function, /, *args, **kwargs):
    """pyHanko's synchronous API runs `asyncio.run()`, which refuses to start inside a running
    event loop (an async view, Playwright's sync API): there, it runs in a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        running = False
    else:
        running = True
    if not running:  # called outside the except clause, so its errors do not chain to it
        return function(*args, **kwargs)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args, **kwargs).result()


def _unreadable(exc: Exception) -> ApplicationError:
    logger.info("PDF illisible : %s", exc)  # pyHanko's own words, in English, for the operator
    return ApplicationError(
        "ce fichier n'est pas un PDF lisible (structure PDF absente ou endommagée)", code="pdf_unreadable"
    )


def seal(
    pdf: bytes,
    *,
    field_name: str = DEFAULT_FIELD_NAME,
    reason: str = DEFAULT_REASON,
    location: str = "",
    signer: signers.Signer | None = None,
) -> bytes:
    """`pdf` with one more PAdES B-T signature in a new field, appended as an incremental
    update so that earlier signatures stay valid. `signer` defaults to the platform's seal."""
    if not field_name.strip() or "." in field_name:
        # pyHanko reads "a.b" as field "b" under field "a" (ISO 32000 partial names).
        raise ApplicationError(
            f"nom de champ de signature invalide : « {field_name} » (non vide, sans point)",
            code="pdf_signature_field",
        )
    try:
        writer = IncrementalPdfFileWriter(BytesIO(pdf))
    except (PdfError, ValueError, TypeError, KeyError) as exc:
        raise _unreadable(exc) from None
    if writer.prev.encrypted:
        raise ApplicationError("ce PDF est chiffré : la plateforme ne le scelle pas", code="pdf_encrypted")
    existing = [name for name, _value, _ref in fields.enumerate_sig_fields(writer)]
    if field_name in existing:
        raise ApplicationError(
            f"ce PDF a déjà un champ de signature « {field_name} » : chaque signature a son propre champ",
            code="pdf_signature_field",
        )
    metadata = signers.PdfSignatureMetadata(
        field_name=field_name,
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        reason=reason or None,
        location=location or None,
    )
    pdf_signer = signers.PdfSigner(
        metadata, signer=signer or platform_signer(), timestamper=PlatformTimeStamper()
    )
    try:
        output = _outside_event_loop(pdf_signer.sign_pdf, writer)
    except (PdfError, SigningError) as exc:
        raise ApplicationError(f"le PDF n'a pas pu être scellé : {exc}", code="pdf_seal") from None
    return output.getvalue()


# -- Validation --------------------------------------------------------------------------------

COVERAGE_LABELS = {
    SignatureCoverageLevel.ENTIRE_FILE: "couvre l'intégralité du document",
    SignatureCoverageLevel.ENTIRE_REVISION: "couvre sa version du document, complétée depuis",
    SignatureCoverageLevel.CONTIGUOUS_BLOCK_FROM_START: (
        "couvre un début de fichier qui n'est pas une révision complète"
    ),
    SignatureCoverageLevel.UNCLEAR: "porte sur une partie indéterminée du fichier",
}
MODIFICATION_LABELS = {
    ModificationLevel.NONE: "aucune modification depuis",
    ModificationLevel.LTA_UPDATES: "seuls des données de validation ou horodatages ont été ajoutés depuis",
    ModificationLevel.FORM_FILLING: "seules des signatures ou saisies de formulaire ont été ajoutées depuis",
    ModificationLevel.ANNOTATIONS: "des annotations ont été ajoutées ou modifiées depuis",
    ModificationLevel.OTHER: "le document a été modifié depuis, et pas seulement par des signatures",
}


@dataclass(frozen=True)
class SignatureReport:
    """pyHanko's verdict on one signature, in the platform's words. `coverage` and
    `modification_level` are pyHanko's enum names (ENTIRE_FILE, ENTIRE_REVISION…; NONE,
    LTA_UPDATES, FORM_FILLING, ANNOTATIONS, OTHER); `signed_at` is the timestamp's genTime."""

    field_name: str
    kind: str  # "signature" or "horodatage du document" (/DocTimeStamp)
    signer: str
    intact: bool
    valid: bool
    trusted: bool
    coverage: str
    covers_whole_document: bool
    modification_level: str | None
    modifications_allowed: bool | None
    timestamp_present: bool
    timestamp_valid: bool
    timestamp_authority: str
    signed_at: dt.datetime | None
    bottom_line: bool
    summary: str
    pyhanko_summary: str = ""


def _context(candidates: list[x509.Certificate]) -> ValidationContext:
    roots: dict[bytes, x509.Certificate] = {}
    for certificate in candidates:
        roots.setdefault(certificate.fingerprint(certificate.signature_hash_algorithm), certificate)
    return ValidationContext(
        trust_roots=[_asn1_certificate(c) for c in roots.values()],
        allow_fetching=False,
        revocation_mode="soft-fail",
    )


def validation_context() -> ValidationContext:
    """Who may sign documents: the platform's authority and the root of a configured
    (qualified) seal chain. Not the TSA's authorities: an external TSA's CA bundle may be a
    commercial CA's, and every certificate it issues must not become a trusted signer.
    Nothing fetched from the network, revocation soft-fail."""
    material = keys.material()
    return _context([material.ca_cert, *(c for c in material.seal_chain if c.issuer == c.subject)])


def timestamp_validation_context() -> ValidationContext:
    """Who may timestamp: the TSA's authorities only (TSA_CA_BUNDLE or the platform's own)."""
    return _context(timestamps.ca_certificates())


def validate(pdf: bytes) -> list[SignatureReport]:
    """One report per signature of `pdf`, in signing order; [] when it has none."""
    try:
        reader = PdfFileReader(BytesIO(pdf), strict=False)
        embedded = reader.embedded_signatures
    except (PdfError, ValueError, TypeError, KeyError) as exc:
        raise _unreadable(exc) from None
    return [_outside_event_loop(_report, signature) for signature in embedded]


def _report(embedded) -> SignatureReport:
    name = str(embedded.field_name)
    is_document_timestamp = embedded.sig_object_type == "/DocTimeStamp"
    try:
        if is_document_timestamp:
            status = validate_pdf_timestamp(embedded, timestamp_validation_context())
        else:
            status = validate_pdf_signature(embedded, validation_context(), timestamp_validation_context())
    except (SignatureValidationError, PdfError, ValueError, KeyError) as exc:
        return _unverifiable(name, embedded, exc)
    if is_document_timestamp:
        token, signed_at = status, status.timestamp
    else:
        token = status.timestamp_validity
        signed_at = token.timestamp if token is not None else None
    timestamp_valid = token is not None and token.intact and token.valid and token.trusted
    level = status.modification_level
    if is_document_timestamp:
        # pyHanko gives document timestamps no bottom line: the same checks, without a signer.
        bottom_line = timestamp_valid and status.docmdp_ok is not False
    else:
        bottom_line = status.bottom_line
    report = {
        "field_name": name,
        "kind": "horodatage du document" if is_document_timestamp else "signature",
        "signer": _display_name(status.signing_cert),
        "intact": status.intact,
        "valid": status.valid,
        "trusted": status.trusted,
        "coverage": status.coverage.name if status.coverage is not None else "UNCLEAR",
        "covers_whole_document": status.coverage == SignatureCoverageLevel.ENTIRE_FILE,
        "modification_level": level.name if level is not None else None,
        "modifications_allowed": status.docmdp_ok,
        "timestamp_present": token is not None,
        "timestamp_valid": timestamp_valid,
        "timestamp_authority": _display_name(token.signing_cert) if token is not None else "",
        "signed_at": signed_at,
        "bottom_line": bottom_line,
        "pyhanko_summary": status.summary(),
    }
    return SignatureReport(**report, summary=_summary(report, status.coverage, level))


def _display_name(certificate: asn1_x509.Certificate) -> str:
    """The certificate's common name, else its whole subject."""
    return certificate.subject.native.get("common_name") or certificate.subject.human_friendly


def _summary(report: dict, coverage: SignatureCoverageLevel | None, level: ModificationLevel | None) -> str:
    who = f"{report['kind'].capitalize()} « {report['field_name']} » de {report['signer']}"
    # "la signature … elle est horodatée", "l'horodatage du document … il"
    feminine = report["kind"] == "signature"
    pronoun, agreement = ("elle", "e") if feminine else ("il", "")
    problems = []
    if not report["intact"]:
        problems.append("le contenu signé a été modifié (son empreinte ne correspond plus)")
    elif not report["valid"]:
        problems.append("la signature est cryptographiquement invalide")
    elif not report["trusted"]:
        problems.append("le certificat du signataire ne remonte à aucune autorité reconnue par la plateforme")
    if not report["timestamp_present"]:
        problems.append("aucun jeton d'horodatage")
    elif not report["timestamp_valid"]:
        problems.append("le jeton d'horodatage n'est pas valide ou pas reconnu")
    if report["modifications_allowed"] is False:
        problems.append(MODIFICATION_LABELS.get(level, MODIFICATION_LABELS[ModificationLevel.OTHER]))
    when = ""
    if report["signed_at"] is not None:
        moment = report["signed_at"].astimezone(PARIS)
        when = f", horodaté{agreement} le {moment:%d/%m/%Y à %H:%M:%S} (heure de Paris)"
    scope = COVERAGE_LABELS.get(coverage, COVERAGE_LABELS[SignatureCoverageLevel.UNCLEAR])
    if (
        coverage == SignatureCoverageLevel.ENTIRE_REVISION
        and level is not None
        and report["modifications_allowed"]
    ):
        scope += f" ({MODIFICATION_LABELS[level]})"
    verdict = "valide" if report["bottom_line"] else "non valide"
    text = f"{who} : {verdict}{when} ; {pronoun} {scope}."
    if problems:
        text += " Problèmes : " + " ; ".join(problems) + "."
    return text


def _unverifiable(name: str, embedded, exc: Exception) -> SignatureReport:
    try:
        signer = _display_name(embedded.signer_cert)
    except (KeyError, ValueError, SignatureValidationError):
        signer = "signataire inconnu"
    kind = "horodatage du document" if embedded.sig_object_type == "/DocTimeStamp" else "signature"
    return SignatureReport(
        field_name=name,
        kind=kind,
        signer=signer,
        intact=False,
        valid=False,
        trusted=False,
        coverage="UNCLEAR",
        covers_whole_document=False,
        modification_level=None,
        modifications_allowed=None,
        timestamp_present=False,
        timestamp_valid=False,
        timestamp_authority="",
        signed_at=None,
        bottom_line=False,
        summary=f"{kind.capitalize()} « {name} » : impossible à vérifier ({exc}).",
    )


def signature_timestamp_token(embedded) -> cms.ContentInfo | None:
    """The RFC 3161 token of a signature (its unsigned signature-time-stamp attribute)."""
    for attribute in embedded.signer_info["unsigned_attrs"] or []:
        if attribute["type"].native == "signature_time_stamp_token":
            return attribute["values"][0]
    return None
