"""The deposit register (registre des dépôts) of a consultation, as buyer staff see it:
company, reception time, lots, sizes and the fate of each deposit — never its contents,
nor its file names: a name (« offre-prix-bas.pdf ») can reveal the offer, so a row counts
the files and adds up their sizes. The company's receipt lists the names.

Several deposits of one company are all kept; for each lot, only the last one received in
time will be opened. A deposit is « retenu » for the lots where it is that last one,
« remplacé » where a later one of the same company replaces it, and « hors délai » (kept,
never opened) when it was received after the deadline.
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import Deposit


@dataclass(frozen=True)
class Row:
    deposit: Deposit
    lots: tuple[int, ...]
    size: int
    files: int
    kept_for: tuple[int, ...]  # lots (or (0,) without lots) for which this deposit will be opened

    @property
    def status(self) -> str:
        if self.deposit.late:
            return "hors délai (conservé, jamais ouvert)"
        if not self.kept_for:
            return "remplacé par un pli ultérieur"
        if self.lots:
            return "retenu pour " + ", ".join(f"le lot {n}" for n in self.kept_for)
        return "retenu"

    @property
    def superseded(self) -> bool:
        return not self.deposit.late and not self.kept_for


def deposit_register(consultation, companies=None) -> list[Row]:
    """Every received deposit of the consultation, or only those of `companies` (a deposit's
    fate depends on its own company's deposits alone)."""
    received = consultation.deposits.filter(state=Deposit.State.RECEIVED)
    if companies is not None:
        received = received.filter(company__in=companies)
    deposits = list(
        received.select_related("company").prefetch_related("lots", "files").order_by("received_at", "pk")
    )
    last_in_time: dict[tuple[int, int], int] = {}
    for deposit in deposits:
        if deposit.late:
            continue
        for lot in [lot.number for lot in deposit.lots.all()] or [0]:
            last_in_time[(deposit.company_id, lot)] = deposit.pk
    rows = []
    for deposit in deposits:
        lots = tuple(sorted(lot.number for lot in deposit.lots.all()))
        kept = tuple(n for n in (lots or (0,)) if last_in_time.get((deposit.company_id, n)) == deposit.pk)
        files = list(deposit.files.all())
        rows.append(Row(deposit, lots, sum(f.size for f in files), len(files), () if deposit.late else kept))
    return rows
