"""The consultation lifecycle: a declared transition table and one function that applies it and
writes the transition log in the journal (STYLE.md §5). Nothing moves backwards."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from config.errors import ApplicationError
from preuves import journal

from .models import Consultation

State = Consultation.State

TRANSITIONS: dict[str, frozenset[str]] = {
    State.DRAFT: frozenset({State.PUBLISHED}),
    # A procedure can be declared "sans suite" at any time once published.
    State.PUBLISHED: frozenset({State.CLOSED, State.DISCONTINUED}),
    State.CLOSED: frozenset({State.OPENED, State.DISCONTINUED}),
    State.OPENED: frozenset({State.AWARDED, State.UNSUCCESSFUL, State.DISCONTINUED}),
    State.AWARDED: frozenset({State.ARCHIVED}),
    State.UNSUCCESSFUL: frozenset({State.ARCHIVED}),
    State.DISCONTINUED: frozenset({State.ARCHIVED}),
    State.ARCHIVED: frozenset(),
}


def allowed_targets(consultation: Consultation) -> frozenset[str]:
    return TRANSITIONS[consultation.current_state]


@transaction.atomic
def transition(
    consultation: Consultation, to: str, *, actor=None, reason: str = "", **fields
) -> Consultation:
    """Move a consultation to `to` if the table allows it from its current state, and journal
    the transition. The row is locked so that two concurrent transitions cannot both apply."""
    locked = Consultation.objects.select_for_update().get(pk=consultation.pk)
    source = locked.state
    # The deadline closes a published consultation even before the periodic task has run.
    if source == State.PUBLISHED and to != State.CLOSED and locked.current_state == State.CLOSED:
        _apply(locked, State.CLOSED, actor=None, reason="date limite de remise des plis atteinte")
        source = State.CLOSED
    if to not in TRANSITIONS[source]:
        raise ApplicationError(
            f"Une consultation « {State(source).label.lower()} » ne peut pas passer à l'état "
            f"« {State(to).label.lower()} ».",
            code="invalid_transition",
            status=409,
        )
    for name, value in fields.items():
        setattr(locked, name, value)
    _apply(locked, to, actor=actor, reason=reason)
    consultation.refresh_from_db()
    return consultation


def _apply(consultation: Consultation, to: str, *, actor, reason: str) -> None:
    source = consultation.state
    consultation.state = to
    consultation.updated_at = timezone.now()
    consultation.full_clean(exclude=["cpv_main", "buyer", "created_by"])
    consultation.save()
    journal.record(
        "consultation.transition",
        actor=actor,
        organisation=consultation.buyer,
        target=consultation,
        payload={"from": source, "to": to, "reason": reason},
    )
