"""How consultations read on a page: deadlines with their time zone, the time left, sizes
in French units, state badges."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django import template
from django.utils import dateformat, timezone

register = template.Library()

PARIS = ZoneInfo("Europe/Paris")

# DSFR badge variant for each consultation state (Consultation.current_state).
STATE_BADGES = {
    "draft": "fr-badge--new",
    "published": "fr-badge--success",
    "closed": "fr-badge--warning",
    "opened": "fr-badge--info",
    "awarded": "fr-badge--info",
    "unsuccessful": "fr-badge--error",
    "discontinued": "fr-badge--error",
    "archived": "",
}


@register.filter
def paris_datetime(value: datetime | None) -> str:
    """« lundi 14 décembre 2026 à 12:00 (heure de Paris) »: legal deadlines are read in
    Paris time, whatever the reader's own zone."""
    if value is None:
        return ""
    local = timezone.localtime(value, PARIS)
    return f"{dateformat.format(local, 'l')} {_day_month_year(local)} à {local:%H:%M} (heure de Paris)"


@register.filter
def paris_date(value: datetime | None) -> str:
    if value is None:
        return ""
    return _day_month_year(timezone.localtime(value, PARIS))


def _day_month_year(local: datetime) -> str:
    day = "1er" if local.day == 1 else str(local.day)  # « le 1er juillet », French usage
    return f"{day} {dateformat.format(local, 'F Y')}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n > 1 else ''}"


@register.filter
def time_left(deadline: datetime | None, now: datetime | None = None) -> str:
    """« reste 3 jours et 4 heures », « reste 2 heures et 5 minutes », or « Clôturée »."""
    if deadline is None:
        return ""
    seconds = int((deadline - (now or timezone.now())).total_seconds())
    if seconds <= 0:
        return "Clôturée"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        parts = [_plural(days, "jour")] + ([_plural(hours, "heure")] if hours else [])
    elif hours:
        parts = [_plural(hours, "heure")] + ([_plural(minutes, "minute")] if minutes else [])
    elif minutes:
        parts = [_plural(minutes, "minute")]
    else:
        return "reste moins d'une minute"
    return "reste " + " et ".join(parts)


@register.filter
def human_size(value: int | None) -> str:
    """Sizes the way a French reader expects them: « 500 Mo », « 1,5 Go », « 820 octets »."""
    if value is None:
        return ""
    size = float(value)
    if size < 1024:
        return _plural(int(size), "octet")
    for unit in ("ko", "Mo", "Go", "To"):
        size /= 1024
        if size < 1024 or unit == "To":
            break
    text = f"{size:.0f}" if size >= 100 or size == int(size) else f"{size:.1f}".replace(".", ",")
    return f"{text.removesuffix(',0')} {unit}"


@register.filter
def state_badge(state: str) -> str:
    return STATE_BADGES.get(state, "")
