"""Building the documents the platform issues: a Request from chosen criteria (per lot), and a
Response to a Request. The criteria's trees come from the target version's official templates,
so that what is built passes the official rules once its answers are given.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence

from dume import criteria as criteria_index
from dume import versions
from dume.errors import DumeError
from dume.model import (
    Answer,
    Criterion,
    Document,
    DocumentKind,
    DocumentReference,
    EconomicOperator,
    Expected,
    Party,
    Value,
)


def request(
    *,
    version: str,
    uuid: str,
    contract_folder_id: str,
    buyer: Party,
    criteria: Mapping[str, Sequence[str]] | Iterable[str],
    lots: Sequence[str] = (),
    requirements: Mapping[str, Sequence[Expected]] | None = None,
    issue_date: dt.date | None = None,
    procedure_code: str | None = None,
    project_description: str | None = None,
) -> Document:
    """A Request in ``version`` asking ``criteria`` (UUIDs, or UUID → the lots it applies to; no
    lots: every lot). ``requirements`` sets the buyer's values (thresholds…) by property id; the
    templates' sample values are dropped."""
    writer = versions.writer_for(version)
    templates = criteria_index.templates(version)
    per_lot = dict(criteria) if isinstance(criteria, Mapping) else dict.fromkeys(criteria, ())
    lots = list(lots) or (["LOT-0000"] if writer.Writer.criterion_lots else [])
    unknown = [uuid_ for uuid_ in per_lot if uuid_ not in templates]
    if unknown:
        raise DumeError(f"Critère(s) inconnu(s) en version {version} : {', '.join(unknown)}.")
    if writer.Writer.criterion_lots:
        # 4.1.0: exclusion grounds apply to the whole procedure (rule BR-LOT-40); its Request
        # needs a procedure type (BR-SC-10) and both convictions and taxes grounds (BR-REQ-30).
        for uuid_, wanted in per_lot.items():
            if wanted and templates[uuid_].category == "exclusion":
                raise DumeError(
                    f"Critère {uuid_} : un motif d'exclusion s'applique à toute la procédure, pas à des lots."
                )
        if not procedure_code:
            raise DumeError(f"Le type de procédure (procedure_code) est obligatoire en version {version}.")
        missing = [uuid_ for uuid_ in mandatory_grounds(version) if uuid_ not in per_lot]
        if missing:
            names = ", ".join(templates[uuid_].name or uuid_ for uuid_ in missing)
            raise DumeError(f"Motifs d'exclusion obligatoires en version {version} absents : {names}.")
    for uuid_, wanted in per_lot.items():
        strangers = [lot for lot in wanted if lot not in lots]
        if strangers:
            raise DumeError(f"Critère {uuid_} : lot(s) {', '.join(strangers)} absent(s) de la consultation.")
    document = Document(
        kind=DocumentKind.REQUEST,
        version=version,
        id=f"DUME-{uuid}",
        uuid=uuid,
        issue_date=issue_date,
        contract_folder_id=contract_folder_id,
        procedure_code=procedure_code,
        project_description=project_description,
        buyer=buyer,
        lots=lots,
    )
    requirements = requirements or {}
    for uuid_, wanted in per_lot.items():
        criterion = _blank(templates[uuid_])
        if writer.Writer.criterion_lots and criterion.category != "exclusion":
            criterion.lots = list(wanted) or list(lots)
        for prop in _all_properties(criterion):
            if prop.id in requirements:
                prop.expected = list(requirements[prop.id])
        document.criteria.append(criterion)
    return document


def response(
    request: Document,
    *,
    uuid: str,
    operator: EconomicOperator,
    answers: Mapping[str, Sequence[Value]] | None = None,
    lot: str | None = None,
    lots: Sequence[str] | None = None,
    lot_group: str | None = None,
    issue_date: dt.date | None = None,
) -> Document:
    """A Response to ``request`` (same version, criteria and procedure), answering by property id.

    In 4.1.0 a Response is for ``lot`` (by default the Request's first), or for several ``lots``
    at once: one answer then covers them all, and the Response is filed under the group of lots
    ``lot_group`` (« GLO-0001 » unless told; rule BR-LOT-10 allows it one ProcurementProjectLot).
    2.1.1 answers for the whole procedure."""
    writer = versions.writer_for(request.version)
    chosen: list[str] = []
    group = None
    if writer.Writer.single_lot_response:
        chosen = list(lots or ()) or [lot or (request.lots[0] if request.lots else "LOT-0000")]
        strangers = [name for name in chosen if request.lots and name not in request.lots]
        if strangers:
            raise DumeError(f"Lot(s) {', '.join(strangers)} absent(s) de la consultation.")
        if len(chosen) != len(set(chosen)):
            raise DumeError("Un même lot est indiqué deux fois.")
        if len(chosen) > 1:
            group = lot_group or "GLO-0001"
    document = Document(
        kind=DocumentKind.RESPONSE,
        version=request.version,
        id=f"DUME-{uuid}",
        uuid=uuid,
        issue_date=issue_date,
        contract_folder_id=request.contract_folder_id,
        procedure_code=request.procedure_code,
        project_description=request.project_description,
        buyer=copy.deepcopy(request.buyer),
        lots=chosen,
        lot_group=group,
        economic_operator=operator,
        criteria=[copy.deepcopy(criterion) for criterion in request.criteria],
        request=DocumentReference(id=request.uuid, type_code="ESPD_REQUEST", issue_date=request.issue_date),
    )
    answers = dict(answers or {})
    for criterion in document.criteria:
        # An answer covers the Response's lots that its criterion concerns (every lot for the
        # exclusion grounds, which concern the whole procedure).
        covered = [name for name in chosen if not criterion.lots or name in criterion.lots] or chosen
        for prop in _all_properties(criterion):
            values = answers.pop(prop.id, None)
            if values is not None:
                # Ids named after the question: the same answers give the same XML.
                given = [
                    value if value.id else dataclasses.replace(value, id=f"{prop.id}/R1/RV{n}")
                    for n, value in enumerate(values, 1)
                ]
                criterion.answers.append(
                    Answer(property_id=prop.id, values=given, lots=list(covered), id=f"{prop.id}/R1")
                )
    if answers:
        raise DumeError(f"Réponse(s) à des questions absentes de la demande : {', '.join(answers)}.")
    return document


# Part III A (criminal convictions) and B (taxes, social security) of the ESPD: every 4.1.0
# Request asks them (rule BR-REQ-30). Codes of 3.x and later.
MANDATORY_CODES = (
    "crime-org",
    "corruption",
    "fraud",
    "terr-offence",
    "finan-laund",
    "human-traffic",
    "tax-pay",
    "socsec-pay",
)


def mandatory_grounds(version: str) -> list[str]:
    """The UUIDs of the exclusion grounds every Request must ask (Part III A and B)."""
    wanted = {
        entry.uuid for entry in criteria_index.index().values() if entry.codes.get("4.1.0") in MANDATORY_CODES
    }
    return [uuid for uuid in criteria_index.templates(version) if uuid in wanted]


def exclusion_grounds(version: str) -> list[str]:
    """The UUIDs of the exclusion grounds of ``version``, in the official order (the platform
    preselects them all; 4.1.0 requires at least the convictions and the taxes grounds)."""
    return [
        uuid
        for uuid, criterion in criteria_index.templates(version).items()
        if criterion.category == "exclusion"
    ]


def _blank(template: Criterion) -> Criterion:
    criterion = copy.deepcopy(template)
    criterion.answers = []
    criterion.lots = []
    for prop in _all_properties(criterion):
        prop.expected = []
    return criterion


def _all_properties(criterion: Criterion):
    yield from criterion.properties()
    for sub in criterion.subcriteria:
        yield from _all_properties(sub)
