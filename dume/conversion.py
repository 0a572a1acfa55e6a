"""Converting a document from one ESPD-EDM version to another, listing what the target cannot carry.

Criterion UUIDs are stable across versions, but each version has its own property tree (UUIDs
up to 2.x, path-like ids from 4.0) and its own type codes. A converted criterion therefore takes
the target version's official tree (from its official Request sample) and every answer moves to
the target question of the same value type at the same rank (the n-th AMOUNT question of the
criterion answers the n-th AMOUNT question of the target). What finds no place is listed, in
French, never silently dropped.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
from collections import defaultdict

from dume import criteria, versions
from dume.model import Answer, Criterion, Document, DocumentKind, Period, Property, Value, ValueKind
from dume.versions.ubl import all_criteria


def to_version(document: Document, target: str) -> tuple[Document, list[str]]:
    writer = versions.writer_for(target)
    losses: list[str] = []
    converted = copy.deepcopy(document)
    converted.version = target
    converted.profile = None
    same_family = writer is _writer_family(document.version)
    if not same_family:
        converted.criteria = []
        templates = criteria.templates(target)
        for criterion in document.criteria:
            moved = _move(criterion, templates.get(criterion.uuid), target, losses)
            if moved is not None:
                converted.criteria.append(moved)
        if converted.orphan_answers:
            losses.append(
                f"{len(converted.orphan_answers)} réponse(s) sans question connue ne sont pas reprises."
            )
            converted.orphan_answers = []
    if not writer.Writer.answer_lots:
        for criterion in all_criteria(converted):
            per_lot = [answer for answer in criterion.answers if answer.lots]
            if per_lot:
                lots = list(dict.fromkeys(lot for answer in per_lot for lot in answer.lots))
                losses.append(
                    f"Critère « {criterion.name or criterion.uuid} » : la version {target} ne permet pas "
                    f"de répondre par lot ; lots {', '.join(lots)} non repris pour {len(per_lot)} réponse(s)."
                )
                for answer in per_lot:
                    answer.lots = []
    if not writer.Writer.criterion_lots:
        for criterion in all_criteria(converted):
            if criterion.lots:
                losses.append(
                    f"Critère « {criterion.name or criterion.uuid} » : la version {target} ne permet pas "
                    f"d'exigences par lot ; lots {', '.join(criterion.lots)} non repris."
                )
                criterion.lots = []
    if converted.kind == DocumentKind.RESPONSE and writer.Writer.single_lot_response:
        _one_lot(converted, target, losses)
    elif converted.lot_group:
        losses.append(
            f"Groupe de lots « {converted.lot_group} » : la version {target} ne le porte pas "
            f"(la réponse y nomme ses lots, {', '.join(converted.lots)})."
        )
        converted.lot_group = None
    if converted.kind == DocumentKind.REQUEST and writer.Writer.criterion_lots and not same_family:
        _selection_lots(converted, target, losses)
    operator = converted.economic_operator
    needs_role = converted.kind == DocumentKind.RESPONSE and writer.Writer.role_required
    if needs_role and operator is not None and not operator.role:
        operator.role = "group-mem" if operator.group_name else "sole-tenderer"
        losses.append(
            f"Rôle de l'opérateur économique absent de la source, obligatoire en version {target} : "
            f"« {operator.role} » retenu ({'membre d’un groupement' if operator.group_name else 'soumissionnaire seul'})."
        )
    if not same_family:
        for criterion in all_criteria(converted):
            _drop_contradicted(criterion, target, losses)
            _complete_follow_ups(criterion, document.version, losses)
    if operator is not None and operator.group_name:
        losses.append(
            f"Nom du groupement « {operator.group_name} » : la version {target} ne le porte pas dans "
            "l'en-tête (il figure dans les réponses au critère de participation en groupement)."
        )
        operator.group_name = None
    return converted, losses


# What a placeholder answer says: never an invented answer, an explicit « not given ».
NOT_GIVEN = "Non renseigné dans le DUME d'origine (ESPD-EDM {version})."


def _one_lot(document: Document, target: str, losses: list[str]) -> None:
    """A 4.1.0 Response names one lot or one group of lots (rule BR-LOT-10): a source for several
    lots is filed under a group, and each of its answers that names no lot covers them all."""
    if not document.lots:
        document.lots = ["LOT-0000"]
        losses.append(
            f"Aucun lot dans la source : lot unique « LOT-0000 » indiqué (obligatoire en version {target})."
        )
    elif len(document.lots) > 1 and not document.lot_group:
        document.lot_group = "GLO-0001"
        for criterion in all_criteria(document):
            for answer in criterion.answers:
                if not answer.lots:
                    answer.lots = list(document.lots)
        losses.append(
            f"Réponse pour les lots {', '.join(document.lots)} : la version {target} la classe sous un groupe "
            f"de lots (règle BR-LOT-10), « {document.lot_group} » indiqué ; chaque réponse couvre ces lots."
        )


def _selection_lots(document: Document, target: str, losses: list[str]) -> None:
    """A 4.1.0 Request ties every selection criterion to lots (rule BR-LOT-41): a source without
    per-lot requirements applies each criterion to every lot."""
    if not document.lots:
        document.lots = ["LOT-0000"]
        losses.append(
            f"Aucun lot dans la source : lot unique « LOT-0000 » indiqué (obligatoire en version {target})."
        )
    tied = 0
    for criterion in document.criteria:
        if criterion.category == "selection" and not criterion.lots:
            criterion.lots = list(document.lots)
            tied += 1
    if tied:
        losses.append(
            f"{tied} critère(s) de sélection sans lot dans la source : appliqués à tous les lots "
            f"({', '.join(document.lots)}), comme l'exige la version {target}."
        )


def _drop_contradicted(criterion: Criterion, target: str, losses: list[str]) -> None:
    """An answer moved under a « yes » group (ONTRUE) whose question was answered « no » — or the
    reverse — would break rules BR-TCR-06-02 / 07-02 of the target: it is not carried, and listed.
    As in the rules, the « parent » answers are those to the properties of the enclosing group."""
    answers = {}
    for answer in criterion.answers:
        answers.setdefault(answer.property_id, []).append(answer)
    dropped: set[int] = set()

    def walk(group):
        said = {a.indicator for prop in group.properties for a in answers.get(prop.id, ())}
        for sub in group.groups:
            contradicted = (sub.type_code == "ONTRUE" and False in said) or (
                sub.type_code == "ONFALSE" and True in said
            )
            if contradicted:
                for prop in sub.properties:
                    for answer in answers.get(prop.id, ()):
                        if id(answer) not in dropped:
                            dropped.add(id(answer))
                            losses.append(
                                f"Critère « {criterion.name or criterion.uuid} » : la réponse à « {prop.description} » "
                                f"n'est pas reprise : en version {target}, cette question ne suit que la réponse "
                                f"« {'oui' if sub.type_code == 'ONTRUE' else 'non'} », et la source a répondu l'inverse."
                            )
            walk(sub)

    for group in criterion.groups:
        walk(group)
    if dropped:
        criterion.answers = [answer for answer in criterion.answers if id(answer) not in dropped]


def _complete_follow_ups(criterion: Criterion, source_version: str, losses: list[str]) -> None:
    """Text questions the target requires after a yes (ONTRUE) or a no (ONFALSE) that the source
    never asked get an explicit « not given » answer, listed; other kinds are left unanswered."""
    answered = {answer.property_id: answer for answer in criterion.answers}

    def walk(group):
        for index, prop in enumerate(group.properties):
            answer = answered.get(prop.id)
            if answer is None or answer.indicator is None:
                continue
            wanted = "ONTRUE" if answer.indicator else "ONFALSE"
            for sub in group.groups:
                if sub.type_code != wanted or index != 0:
                    continue
                for question in sub.properties:
                    if question.id in answered or question.type_code not in (None, "QUESTION"):
                        continue
                    if question.value_type != "DESCRIPTION":
                        losses.append(
                            f"Critère « {criterion.name or criterion.uuid} » : la question « {question.description} » "
                            f"({question.value_type}), exigée après cette réponse, n'a pas de réponse dans la source ; "
                            "le document converti ne respectera pas la règle BR-TCR-06 tant qu'elle n'est pas complétée."
                        )
                        continue
                    filler = Answer(
                        property_id=question.id,
                        values=[Value(ValueKind.DESCRIPTION, NOT_GIVEN.format(version=source_version))],
                        lots=list(answer.lots),
                    )
                    criterion.answers.append(filler)
                    answered[question.id] = filler
                    losses.append(
                        f"Critère « {criterion.name or criterion.uuid} » : la question « {question.description} », "
                        f"exigée après cette réponse, n'existait pas dans la source ; réponse « non renseigné » ajoutée."
                    )
        for sub in group.groups:
            walk(sub)

    for group in criterion.groups:
        walk(group)


def _writer_family(version: str):
    try:
        return versions.writer_for(version)
    except Exception:  # noqa: BLE001 - a version we only read: never the target's family
        return None


def _move(
    criterion: Criterion, template: Criterion | None, target: str, losses: list[str]
) -> Criterion | None:
    label = criterion.name or criterion.uuid
    if template is None:
        answered = _answer_count(criterion)
        losses.append(
            f"Critère « {label} » ({criterion.uuid}) : absent des critères officiels de la version {target}, "
            f"non repris ({answered} réponse(s))."
        )
        return None
    moved = copy.deepcopy(template)
    moved.answers = []
    moved.lots = list(criterion.lots)
    source_positions = _positions(criterion.groups)
    target_positions = _positions(moved.groups)
    source_props = {prop.id: prop for prop in criterion.properties()}
    targets = [prop for prop in moved.properties() if prop.type_code in (None, "QUESTION")]
    used: list[str] = []
    forced = _crosswalk(criterion, moved)
    for answer in criterion.answers:
        target_prop = _place(
            answer,
            source_props.get(answer.property_id),
            source_positions,
            targets,
            target_positions,
            used,
            forced,
        )
        place = target_prop.id if target_prop is not None else None
        if place is None:
            losses.append(
                f"Critère « {label} » : la réponse à la question {answer.property_id} n'a pas d'équivalent "
                f"en version {target}."
            )
            continue
        values = [Value(kind=v.kind, value=v.value, unit=v.unit) for v in answer.values]
        if target_prop is not None and target_prop.value_type == "QUANTITY_YEAR":
            # 4.x says « years » with the unit code (rule BR-TCR-08-11); 2.x by the question alone.
            values = [
                dataclasses.replace(v, unit=v.unit or "YEAR") if v.kind == ValueKind.QUANTITY else v
                for v in values
            ]
        periods = copy.deepcopy(answer.periods)
        source_prop = source_props.get(answer.property_id)
        if (
            target_prop is not None
            and target_prop.value_type == "PERIOD"
            and (source_prop is None or source_prop.value_type != "PERIOD")
            and not periods
        ):
            # 2.x asked the length of an exclusion period as free text; 4.x as a period.
            texts = [str(v.value) for v in values if v.kind == ValueKind.DESCRIPTION]
            if texts:
                periods = [Period(description=" ".join(texts))]
                values = [v for v in values if v.kind != ValueKind.DESCRIPTION]
        moved.answers.append(
            Answer(
                property_id=place,
                values=values,
                periods=periods,
                evidence_ids=list(answer.evidence_ids),
                lots=list(answer.lots),
            )
        )
    # Sub-criteria (4.1.0's C24, C34…; 2.1.1 EXTENDED's national ones) move to the target's
    # sub-criterion of the same UUID, or are listed.
    counterparts = {sub.uuid: index for index, sub in enumerate(moved.subcriteria)}
    for sub in criterion.subcriteria:
        index = counterparts.get(sub.uuid)
        if index is None:
            answered = _answer_count(sub)
            if answered:
                losses.append(
                    f"Critère « {label} » : le sous-critère « {sub.name or sub.uuid} » ({sub.uuid}) n'existe pas "
                    f"en version {target}, non repris ({answered} réponse(s))."
                )
            continue
        moved.subcriteria[index] = _move(sub, moved.subcriteria[index], target, losses)
    return moved


def _answer_count(criterion: Criterion) -> int:
    return len(criterion.answers) + sum(_answer_count(sub) for sub in criterion.subcriteria)


# Where a question changed meaning between versions, the texts mislead. « For service contracts:
# authorisation (or membership) of particular organisation needed »: 2.1.1 BASIC asks « Your
# answer? » (is one needed?) then, after a yes, « Indicate whether the economic operator has it »
# and « If yes, please describe them »; 4.x (and 2.1.1 EXTENDED) ask « Your Answer » (does the EO
# hold it?) then its « Registration number ». Matched by text, « Your answer? » took « Your
# Answer »'s yes and the 2.1.1 follow-ups stayed unanswered (rule BR-TCR-06). For each criterion:
# (a question of the source's tree, one of the target's tree, source question → target question;
# None: no equivalent, the criterion being asked says it).
HOLDS_IT = "indicate whether the economic operator has it"
REGISTRATION = "registration number"
_REGISTER_CROSSWALKS = (
    (
        HOLDS_IT,
        REGISTRATION,
        {"your answer": None, HOLDS_IT: "your answer", "if yes please describe them": REGISTRATION},
    ),
    (REGISTRATION, HOLDS_IT, {"your answer": HOLDS_IT, REGISTRATION: "if yes please describe them"}),
)
CROSSWALKS = {
    "9eeb6d5c-0eb8-48e8-a4c5-5087a7c095a4": _REGISTER_CROSSWALKS,  # authorisation needed
    "73f10e36-ed7a-412e-995c-aa76463e3776": _REGISTER_CROSSWALKS,  # membership needed
}


def _crosswalk(criterion: Criterion, target: Criterion) -> dict[str, str | None]:
    """Source question text → target question text (or None) for this pair of trees, if any."""
    walks = CROSSWALKS.get(criterion.uuid)
    if not walks:
        return {}
    source_texts = {_words(prop.description) for prop in criterion.properties()}
    target_texts = {_words(prop.description) for prop in target.properties()}
    for source_marker, target_marker, mapping in walks:
        if source_marker in source_texts and target_marker in target_texts:
            return mapping
    return {}


def _positions(groups, prefix=()) -> dict:
    """Property → its place in the tree: group indexes down to it, then its index in the group."""
    positions = {}
    for index, group in enumerate(groups):
        here = (*prefix, index)
        for prop_index, prop in enumerate(group.properties):
            positions[prop.id] = (*here, "p", prop_index)
        positions.update(_positions(group.groups, here))
    return positions


# Which response value kinds each ResponseDataType expects.
ACCEPTS = {
    "INDICATOR": {ValueKind.INDICATOR},
    "AMOUNT": {ValueKind.AMOUNT},
    "MINIMUM_AMOUNT": {ValueKind.AMOUNT},
    "MAXIMUM_AMOUNT": {ValueKind.AMOUNT},
    "DESCRIPTION": {ValueKind.DESCRIPTION},
    "DATE": {ValueKind.DATE},
    "PERIOD": {ValueKind.DESCRIPTION},  # see the period conversion below; no value otherwise
    "CODE": {ValueKind.CODE},
    "CODE_COUNTRY": {ValueKind.CODE},
    "CODE_BOOLEAN": {ValueKind.CODE, ValueKind.INDICATOR},
    "QUANTITY": {ValueKind.QUANTITY},
    "QUANTITY_INTEGER": {ValueKind.QUANTITY},
    "QUANTITY_YEAR": {ValueKind.QUANTITY},
    "PERCENTAGE": {ValueKind.QUANTITY, ValueKind.NUMERIC},
    "WEIGHT_INDICATOR": {ValueKind.INDICATOR},
    "URL": {ValueKind.URI},
    "IDENTIFIER": {ValueKind.IDENTIFIER},
    "EVIDENCE_IDENTIFIER": {ValueKind.IDENTIFIER},
    "ECONOMIC_OPERATOR_IDENTIFIER": {ValueKind.IDENTIFIER},
    "LOT_IDENTIFIER": {ValueKind.IDENTIFIER},
}


def _compatible(answer: Answer, prop: Property) -> bool:
    kinds = {value.kind for value in answer.values}
    if not kinds:  # evidence only, or a period only
        if answer.periods:
            return prop.value_type == "PERIOD"
        return prop.value_type == "EVIDENCE_IDENTIFIER" or not answer.evidence_ids
    accepted = ACCEPTS.get(prop.value_type or "", set())
    return kinds <= accepted


def _words(text: str | None) -> str:
    return " ".join("".join(ch if ch.isalnum() else " " for ch in (text or "").lower()).split())


def _place(answer, source_prop, source_positions, targets, target_positions, used, forced=None):
    """The target question an answer moves to: the most similar question text among the questions
    that accept its values, its place in the tree breaking ties; None if nothing fits. ``forced``
    (a crosswalk) names the target of some source questions by their texts."""
    candidates = [prop for prop in targets if prop.id not in used and _compatible(answer, prop)]
    if not candidates:
        return None
    position = source_positions.get(answer.property_id)
    wanted = _words(source_prop.description if source_prop else None)
    if forced and wanted in forced:
        if forced[wanted] is None:
            return None
        for prop in candidates:
            if _words(prop.description) == forced[wanted]:
                used.append(prop.id)
                return prop
        return None

    last = target_positions.get(used[-1]) if used else None

    def near(prop) -> int:
        # Questions come in document order: among equals, the one nearest the previous placement.
        here = target_positions.get(prop.id) or ()
        common = 0
        for a, b in zip(here, last or (), strict=False):
            if a != b:
                break
            common += 1
        return common

    def score(prop):
        similarity = (
            difflib.SequenceMatcher(None, wanted, _words(prop.description)).ratio() if wanted else 0.0
        )
        return (round(similarity, 2), target_positions.get(prop.id) == position, near(prop))

    best = max(candidates, key=score)
    similarity, same_place, _near = score(best)
    if similarity < 0.6 and not same_place:  # below that, the texts are unrelated
        return None
    used.append(best.id)
    return best


def _ranks(properties: list[Property]) -> dict:
    """Property → (value type, rank among the questions of that type), in document order."""
    seen: dict[str, int] = defaultdict(int)
    ranks = {}
    for prop in properties:
        if prop.type_code not in (None, "QUESTION"):
            continue
        kind = prop.value_type or ""
        ranks[prop.id] = (kind, seen[kind])
        seen[kind] += 1
    return ranks
