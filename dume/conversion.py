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
from collections import defaultdict

from dume import criteria, versions
from dume.model import Answer, Criterion, Document, Period, Property, Value, ValueKind
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
            for answer in criterion.answers:
                if answer.lots:
                    losses.append(
                        f"Critère « {criterion.name or criterion.uuid} » : la version {target} ne permet pas "
                        f"de répondre par lot ; lots {', '.join(answer.lots)} non repris pour une réponse."
                    )
                    answer.lots = []
    if not writer.Writer.criterion_lots:
        for criterion in all_criteria(converted):
            if criterion.lots:
                losses.append(
                    f"Critère « {criterion.name or criterion.uuid} » : la version {target} ne permet pas "
                    f"d'exigences par lot ; lots {', '.join(criterion.lots)} non repris."
                )
                criterion.lots = []
    operator = converted.economic_operator
    if operator is not None and operator.group_name:
        losses.append(
            f"Nom du groupement « {operator.group_name} » : la version {target} ne le porte pas dans "
            "l'en-tête (il figure dans les réponses au critère de participation en groupement)."
        )
        operator.group_name = None
    return converted, losses


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
        answered = len(criterion.answers)
        losses.append(
            f"Critère « {label} » ({criterion.uuid}) : absent des critères officiels de la version {target}, "
            f"non repris ({answered} réponse(s))."
        )
        return None
    moved = copy.deepcopy(template)
    moved.answers = []
    moved.lots = list(criterion.lots)
    source_ranks = _ranks(criterion.properties())
    target_by_rank = {rank: prop_id for prop_id, rank in _ranks(moved.properties()).items()}
    source_positions = _positions(criterion.groups)
    target_at = {position: prop_id for prop_id, position in _positions(moved.groups).items()}
    target_props = {prop.id: prop for prop in moved.properties()}
    source_props = {prop.id: prop for prop in criterion.properties()}
    for answer in criterion.answers:
        # Same place in the tree first (the trees of one criterion have the same shape across
        # versions, though a question's type may change), else same type at the same rank.
        target_prop = target_props.get(target_at.get(source_positions.get(answer.property_id)))
        place = target_prop.id if target_prop is not None else None
        if place is None:
            rank = source_ranks.get(answer.property_id)
            place = target_by_rank.get(rank) if rank is not None else None
            target_prop = target_props.get(place)
        if place is None:
            losses.append(
                f"Critère « {label} » : la réponse à la question {answer.property_id} n'a pas d'équivalent "
                f"en version {target}."
            )
            continue
        values = [Value(kind=v.kind, value=v.value, unit=v.unit) for v in answer.values]
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
    return moved


def _positions(groups, prefix=()) -> dict:
    """Property → its place in the tree: group indexes down to it, then its index in the group."""
    positions = {}
    for index, group in enumerate(groups):
        here = (*prefix, index)
        for prop_index, prop in enumerate(group.properties):
            positions[prop.id] = (*here, "p", prop_index)
        positions.update(_positions(group.groups, here))
    return positions


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
