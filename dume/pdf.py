"""The readable PDF of a DUME (ESPD Request or Response), drawn from the same model as its XML.

``lines(document)`` is what a person reads: the document's text, in French, line by line, from
the normalised model; ``render(document)`` sets exactly those lines with reportlab. The XML
writer and this PDF take the same ``Document``, so that the two cannot disagree (a known pain of
the ESPD tools: PDFs that do not say what the XML says); a test compares the PDF's text, as
``pdftotext`` extracts it, with the model.

Only reportlab, no Django: the platform's PDF service (``preuves.pdf``, which seals its
documents) is Django-side, and the library must stay usable alone. Fonts: DejaVu Sans when
Debian's fonts-dejavu-core is installed, else the Vera faces inside reportlab (both cover French,
« », € and —).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from xml.sax.saxutils import escape

import reportlab
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

from dume.model import (
    Answer,
    Criterion,
    Document,
    DocumentKind,
    EconomicOperator,
    Party,
    Period,
    Value,
    ValueKind,
)
from dume.versions.ubl import EXPECTED_KIND

DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
VERA = Path(reportlab.__file__).parent / "fonts"
TEXT, BOLD = "DumeTexte", "DumeTexteGras"

CATEGORIES = {"exclusion": "Motif d'exclusion", "selection": "Critère de sélection", "other": "Autre critère"}
ROLES = {
    "sole-tenderer": "soumissionnaire seul",
    "group-lead": "mandataire d'un groupement",
    "group-mem": "membre d'un groupement",
    "subcont": "sous-traitant",
    "oeron": "entité dont les capacités sont invoquées",
}
SIZES = {
    "micro": "micro-entreprise",
    "small": "petite entreprise",
    "medium": "moyenne entreprise",
    "sme": "PME",
    "large": "grande entreprise",
}
EXPECTED = {
    "ExpectedAmount": "montant attendu",
    "ExpectedID": "identifiant attendu",
    "ExpectedIndicator": "réponse attendue",
    "ExpectedCode": "code attendu",
    "ExpectedValueNumeric": "valeur attendue",
    "ExpectedDescription": "description attendue",
    "ExpectedURI": "adresse attendue",
    "MaximumAmount": "montant maximal",
    "MinimumAmount": "montant minimal",
    "MaximumValueNumeric": "valeur maximale",
    "MinimumValueNumeric": "valeur minimale",
    "MaximumQuantity": "quantité maximale",
    "MinimumQuantity": "quantité minimale",
}


@dataclass(frozen=True)
class Line:
    text: str
    level: int = 0  # 1: a part's title, 2: a criterion's, 0: a line of text


def value_text(value: Value) -> str:
    """A value as the PDF writes it (French: « oui », 1 200 000,00 EUR, 04/12/2026)."""
    return _typed_text(value.kind, value.value, value.unit)


def _typed_text(kind: ValueKind, value, unit: str | None) -> str:
    if kind == ValueKind.INDICATOR:
        return "oui" if value else "non"
    if kind == ValueKind.AMOUNT and isinstance(value, Decimal):
        return f"{_number(value, places=2)} {unit or 'EUR'}"
    if kind in (ValueKind.QUANTITY, ValueKind.NUMERIC) and isinstance(value, Decimal):
        shown = _number(value)
        return f"{shown} {unit}" if unit and kind == ValueKind.QUANTITY else shown
    if kind == ValueKind.DATE and isinstance(value, dt.date):
        return _date(value)
    return str(value) if value is not None else "—"


def _number(value: Decimal, places: int | None = None) -> str:
    text = f"{value:,.{places}f}" if places is not None else f"{value:,f}".rstrip("0").rstrip(".")
    return text.replace(",", " ").replace(".", ",")


def _date(value: dt.date) -> str:
    return value.strftime("%d/%m/%Y")


def _period(period: Period) -> str:
    parts = []
    if period.start:
        parts.append(f"du {_date(period.start)}")
    if period.end:
        parts.append(f"au {_date(period.end)}")
    if period.description:
        parts.append(period.description)
    return " ".join(parts) or "période non précisée"


def _party(label: str, party: Party) -> list[Line]:
    found = [Line(f"{label} : {party.name or '—'}")]
    for identifier in party.identifiers:
        scheme = "SIRET" if identifier.is_siret else (identifier.scheme or "schéma non précisé")
        found.append(Line(f"Identifiant ({scheme}) : {identifier.value}"))
    address = party.address
    if address is not None:
        where = ", ".join(filter(None, (address.street, address.postal_code, address.city, address.country)))
        if where:
            found.append(Line(f"Adresse : {where}"))
    contact = party.contact
    if contact is not None:
        reach = ", ".join(filter(None, (contact.name, contact.email, contact.telephone)))
        if reach:
            found.append(Line(f"Contact : {reach}"))
    if party.website:
        found.append(Line(f"Site : {party.website}"))
    return found


def _operator(operator: EconomicOperator) -> list[Line]:
    found = _party("Opérateur économique", operator)
    if operator.size:
        sme = {True: "oui", False: "non", None: "non précisé"}[operator.sme]
        size = f" ({SIZES.get(operator.size, operator.size)})" if operator.size != "sme" else ""
        found.append(Line(f"PME : {sme}{size}"))
    if operator.role:
        found.append(Line(f"Rôle : {ROLES.get(operator.role, operator.role)}"))
    if operator.group_name:
        found.append(Line(f"Groupement : {operator.group_name}"))
    for person in operator.representatives:
        name = " ".join(filter(None, (person.first_name, person.family_name))) or "—"
        details = ", ".join(
            filter(
                None, (person.capacity, _date(person.birth_date) if person.birth_date else None, person.email)
            )
        )
        found.append(Line(f"Représentant : {name}" + (f" ({details})" if details else "")))
    for relied in operator.relied_upon:
        found.extend(Line(f"Capacités invoquées — {line.text}") for line in _party("entité", relied))
    return found


def _answer_text(answer: Answer) -> str:
    parts = [value_text(value) for value in answer.values]
    parts += [_period(period) for period in answer.periods]
    parts += [f"justificatif {evidence}" for evidence in answer.evidence_ids]
    text = " ; ".join(parts) or "réponse sans valeur"
    if answer.lots:
        text += f" (lots : {', '.join(answer.lots)})"
    return text


def _criterion(criterion: Criterion, document: Document) -> list[Line]:
    title = f"{CATEGORIES.get(criterion.category, 'Critère')} — {criterion.name or criterion.type_code or criterion.uuid}"
    found = [Line(title, level=2)]
    if criterion.lots:
        found.append(Line(f"Lots concernés : {', '.join(criterion.lots)}"))
    answers: dict[str, list[Answer]] = {}
    for answer in criterion.answers:
        answers.setdefault(answer.property_id, []).append(answer)
    for prop in criterion.properties():
        label = prop.description or prop.name or prop.id
        if prop.type_code == "REQUIREMENT":
            if prop.expected:
                wanted = " ; ".join(
                    f"{EXPECTED.get(e.element, e.element)} {_typed_text(_expected_kind(e.element), e.value, e.unit)}"
                    for e in prop.expected
                )
                found.append(Line(f"Exigence : {label} — {wanted}"))
            continue
        if prop.type_code == "CAPTION":
            continue
        given = answers.pop(prop.id, [])
        if given:
            found.extend(Line(f"{label} : {_answer_text(answer)}") for answer in given)
        elif document.kind == DocumentKind.REQUEST:
            found.append(Line(f"Question : {label}"))
    for property_id, left in answers.items():  # answers to questions of no group (still shown)
        found.extend(Line(f"{property_id} : {_answer_text(answer)}") for answer in left)
    for sub in criterion.subcriteria:
        found.extend(_criterion(sub, document))
    return found


def _expected_kind(element: str) -> ValueKind:
    return EXPECTED_KIND.get(element, ValueKind.DESCRIPTION)


def lines(document: Document) -> list[Line]:
    """Everything the PDF says, in order: the header, the parties, each criterion."""
    kind = "Demande" if document.kind == DocumentKind.REQUEST else "Réponse"
    found = [
        Line(f"DUME — {kind} (ESPD-EDM {document.version})", level=1),
        Line("Version lisible, établie à partir des mêmes données que le fichier XML."),
        Line(f"Procédure : {document.contract_folder_id or '—'}"),
        Line(f"Identifiant du document : {document.id or '—'}"),
        Line(f"UUID : {document.uuid or '—'}"),
    ]
    if document.issue_date:
        found.append(Line(f"Date : {_date(document.issue_date)}"))
    if document.procedure_code:
        found.append(Line(f"Type de procédure : {document.procedure_code}"))
    if document.project_description:
        found.append(Line(f"Objet : {document.project_description}"))
    if document.lots:
        found.append(Line(f"Lots : {', '.join(document.lots)}"))
    if document.lot_group:
        found.append(Line(f"Groupe de lots : {document.lot_group}"))
    if document.request is not None:
        found.append(Line(f"Répond à la demande : {document.request.id or '—'}"))
    found.append(Line("Parties", level=1))
    if document.buyer is not None:
        found.extend(_party("Acheteur", document.buyer))
    if document.economic_operator is not None:
        found.extend(_operator(document.economic_operator))
    found.append(Line("Critères", level=1))
    for criterion in document.criteria:
        found.extend(_criterion(criterion, document))
    if document.evidences:
        found.append(Line("Justificatifs", level=1))
        for evidence in document.evidences:
            described = ", ".join(filter(None, (evidence.description, evidence.issuer, evidence.uri)))
            found.append(Line(f"Justificatif {evidence.id}" + (f" : {described}" if described else "")))
    return found


@functools.cache
def _fonts() -> None:
    regular, bold = DEJAVU / "DejaVuSans.ttf", DEJAVU / "DejaVuSans-Bold.ttf"
    if not (regular.exists() and bold.exists()):
        regular, bold = VERA / "Vera.ttf", VERA / "VeraBd.ttf"
    pdfmetrics.registerFont(TTFont(TEXT, str(regular)))
    pdfmetrics.registerFont(TTFont(BOLD, str(bold)))
    pdfmetrics.registerFontFamily(TEXT, normal=TEXT, bold=BOLD, italic=TEXT, boldItalic=BOLD)


def render(document: Document) -> bytes:
    """The PDF of ``document``: its ``lines``, and nothing else."""
    _fonts()
    styles = {
        0: ParagraphStyle("ligne", fontName=TEXT, fontSize=9, leading=12),
        1: ParagraphStyle("partie", fontName=BOLD, fontSize=14, leading=18, spaceBefore=8, spaceAfter=4),
        2: ParagraphStyle("critere", fontName=BOLD, fontSize=10.5, leading=14, spaceBefore=6, spaceAfter=2),
    }
    kind = "Demande" if document.kind == DocumentKind.REQUEST else "Réponse"
    buffer = BytesIO()
    template = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=f"DUME — {kind} — {document.contract_folder_id or ''}".strip(" —"),
        author=(document.economic_operator.name if document.economic_operator else None)
        or (document.buyer.name if document.buyer else None)
        or "",
        subject=f"ESPD-EDM {document.version}",
        creator="dume (bibliothèque ESPD de la plateforme)",
        lang="fr-FR",
    )
    flowables = []
    for line in lines(document):
        flowables.append(Paragraph(escape(line.text), styles[line.level]))
        if line.level == 1:
            flowables.append(Spacer(0, 2))
    template.build(flowables)
    return buffer.getvalue()
