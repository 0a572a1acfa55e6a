"""Where a company stands on a consultation, as its own pages tell it: the plis it has
already had received, and, for each lot, the one the opening would read today — the last
one received in time (offres/registers.py). A new pli for that lot replaces it.

The deposit page compares that pli with the files chosen, before anything is sent
(static/offres/src/depot.js): a new pli holding only an offer replaces, for its lots, a pli
that also held a candidature, and that candidature is then never read. The page says so and
asks for confirmation. The consultation page tells the company that it has already
deposited, and when (offres/templatetags/offres_depots.py).

Only the company's own deposits are read (`companies`, those the user belongs to).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from marches.templatetags.marches_format import paris_datetime

from . import registers
from .models import Deposit, Envelope


@dataclass(frozen=True)
class Retained:
    """A received pli that the opening would read today for `lots` ((0,) without lots)."""

    row: registers.Row

    @property
    def deposit(self) -> Deposit:
        return self.row.deposit

    @property
    def envelopes(self) -> dict[str, int]:
        """Number of files in each envelope (0 when empty)."""
        counts = dict.fromkeys(Envelope.values, 0)
        for file in self.deposit.files.all():
            counts[file.envelope] += 1
        return counts

    @property
    def summary(self) -> str:
        """« enveloppes candidature (2 fichiers) et offre (1 fichier) », « enveloppe offre
        seule (1 fichier) »."""
        parts = [
            f"{Envelope(envelope).label} ({n} fichier{'s' if n > 1 else ''})"
            for envelope, n in self.envelopes.items()
            if n
        ]
        if len(parts) == 1:
            return f"enveloppe {parts[0].replace(' (', ' seule (', 1)}"
        return "enveloppes " + " et ".join(parts)

    @property
    def lots(self) -> tuple[int, ...]:
        """The lots it is retained for (none without lots)."""
        return tuple(n for n in self.row.kept_for if n)

    def as_json(self) -> dict:
        return {
            "id": str(self.deposit.public_id),
            "received": paris_datetime(self.deposit.received_at, "s"),
            "lots": list(self.lots),
            "envelopes": self.envelopes,
            "files": self.row.files,
            "summary": self.summary,
            "url": reverse("offres:deposit_detail", args=[self.deposit.public_id]),
        }


def retained(consultation, companies) -> dict[int, list[Retained]]:
    """For each of `companies` that has one, its plis the opening would read today, oldest
    first."""
    found: dict[int, list[Retained]] = {}
    for row in registers.deposit_register(consultation, companies=companies):
        if row.kept_for:
            found.setdefault(row.deposit.company_id, []).append(Retained(row))
    return found


def replacement_data(found: dict[int, list[Retained]]) -> dict[str, list[dict]]:
    """What the deposit page's script compares the files chosen with (json_script), per
    company id."""
    return {str(company): [r.as_json() for r in rows] for company, rows in found.items()}


@dataclass(frozen=True)
class CompanyDeposits:
    """One company's plis on a consultation, as the consultation page tells it."""

    company: object
    received: list[Deposit]  # newest first
    unfinished: int

    @property
    def last(self) -> Deposit | None:
        return self.received[0] if self.received else None


def deposits_of(consultation, user) -> list[CompanyDeposits]:
    """The plis of the user's companies on the consultation: received (in time or late) and
    the number of unfinished uploads, per company that has any."""
    mine = list(
        Deposit.objects.of_company_member(user)
        .filter(consultation=consultation, state__in=[Deposit.State.RECEIVED, Deposit.State.UPLOADING])
        .select_related("company")
        .order_by("company__name", "company_id", "-received_at", "-started_at")
    )
    summaries: dict[int, CompanyDeposits] = {}
    for deposit in mine:
        entry = summaries.setdefault(deposit.company_id, CompanyDeposits(deposit.company, [], 0))
        if deposit.state == Deposit.State.RECEIVED:
            entry.received.append(deposit)
        else:
            summaries[deposit.company_id] = CompanyDeposits(
                entry.company, entry.received, entry.unfinished + 1
            )
    return list(summaries.values())
