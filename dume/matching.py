"""Checking a Response against the Request it answers: same procedure, same Request, every
required criterion answered (per lot where the Request sets requirements per lot).

Returns issues (French, with the line in the Response where there is one) rather than raising:
a mismatch is for the buyer to see, not a reason to refuse the file.
"""

from __future__ import annotations

from dume.errors import Issue
from dume.model import Criterion, Document
from dume.versions.ubl import all_criteria


def check_response(response: Document, request: Document) -> list[Issue]:
    issues: list[Issue] = []
    if (
        request.contract_folder_id
        and response.contract_folder_id
        and response.contract_folder_id.strip() != request.contract_folder_id.strip()
    ):
        issues.append(
            Issue(
                f"Cette réponse concerne une autre procédure : « {response.contract_folder_id} » au lieu de "
                f"« {request.contract_folder_id} ».",
                element="ContractFolderID",
                severity="warning",
            )
        )
    reference = response.request
    if (
        reference is not None
        and reference.id
        and request.uuid
        and reference.id not in (request.uuid, request.id)
    ):
        issues.append(
            Issue(
                f"Cette réponse répond à une autre demande (« {reference.id} ») que celle de la "
                f"consultation (« {request.uuid} »).",
                element="AdditionalDocumentReference",
                severity="warning",
            )
        )
    strangers = [lot for lot in response.lots if request.lots and lot not in request.lots]
    if strangers and response.lots != ["LOT-0000"]:
        issues.append(
            Issue(
                f"Cette réponse concerne le(s) lot(s) {', '.join(strangers)}, absent(s) de la demande "
                f"({', '.join(request.lots)}).",
                element="ProcurementProjectLot",
                severity="warning",
            )
        )
    answered = {criterion.uuid: criterion for criterion in response.criteria}
    for required in request.criteria:
        label = required.name or required.type_code or required.uuid
        if required.lots and response.lots and not set(required.lots) & set(response.lots):
            continue  # required for other lots than those this Response is for
        given = answered.get(required.uuid)
        if given is None or not _answers(given):
            issues.append(
                Issue(
                    f"Réponse manquante au critère « {label} » ({required.uuid}).",
                    line=given.line if given is not None else None,
                    element="TenderingCriterion",
                )
            )
            continue
        answers = _answers(given)
        if required.lots and any(answer.lots for answer in answers):
            # An answer that names no lot covers every lot of the Response.
            covered = {lot for answer in answers for lot in (answer.lots or response.lots)}
            wanted = [lot for lot in required.lots if not response.lots or lot in response.lots]
            missing = [lot for lot in wanted if lot not in covered]
            if missing:
                issues.append(
                    Issue(
                        f"Critère « {label} » : pas de réponse pour le(s) lot(s) {', '.join(missing)}.",
                        line=given.line,
                        element="TenderingCriterion",
                    )
                )
    return issues


def _answers(criterion: Criterion):
    return [
        answer
        for sub in all_criteria(Document(kind=None, version="", criteria=[criterion]))
        for answer in sub.answers
    ]  # type: ignore[arg-type]
