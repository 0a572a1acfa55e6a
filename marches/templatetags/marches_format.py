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
def paris_datetime(value: datetime | None, precision: str = "") -> str:
    """« lundi 14 décembre 2026 à 12:00 (heure de Paris) »: legal deadlines are read in
    Paris time, whatever the reader's own zone. `|paris_datetime:"s"` adds the seconds
    (« à 11:02:17 »), for the reception of a pli."""
    if value is None:
        return ""
    local = timezone.localtime(value, PARIS)
    clock = f"{local:%H:%M:%S}" if precision == "s" else f"{local:%H:%M}"
    return f"{dateformat.format(local, 'l')} {_day_month_year(local)} à {clock} (heure de Paris)"


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


# How urgent a deadline reads, from the time left (seconds) to the deadline: the stage's
# name, and the DSFR alert level of the deadline box (consultation page, deposit page;
# templates/includes/deadline_box.html). A page shows the stage computed by the server (no
# JavaScript needed), and static/marches/deadline.js moves it on without a reload, reading
# these same thresholds from the box. Why these:
# - more than 24 hours: information (blue): there is time, including for a large pli;
# - 24 hours or less: warning (orange): a large pli on a slow line takes hours;
# - 1 hour or less: still a warning, in stronger words: start sending now;
# - 10 minutes or less, and after the deadline: error (red): a pli whose upload ends after
#   the deadline is received « hors délai » and never opened, and 10 minutes is about what
#   a 100 MB pli takes on a 2 Mbit/s uplink.
DEADLINE_STAGES: tuple[tuple[str, int, str], ...] = (
    # (stage, applies when at most this many seconds are left, DSFR alert level)
    ("late", 0, "error"),
    ("minutes", 10 * 60, "error"),
    ("hour", 60 * 60, "warning"),
    ("day", 24 * 60 * 60, "warning"),
)
DEADLINE_OPEN = ("open", "info")  # more than a day left


@register.filter
def deadline_stage(deadline: datetime | None, now: datetime | None = None) -> dict[str, str]:
    """{"stage": "hour", "level": "warning"} for a deadline `now` (or the present)."""
    if deadline is None:
        return {"stage": DEADLINE_OPEN[0], "level": DEADLINE_OPEN[1]}
    left = (deadline - (now or timezone.now())).total_seconds()
    for stage, seconds, level in DEADLINE_STAGES:
        if left <= seconds:
            return {"stage": stage, "level": level}
    return {"stage": DEADLINE_OPEN[0], "level": DEADLINE_OPEN[1]}


@register.simple_tag
def deadline_thresholds() -> str:
    """The thresholds for the page's script: « late:0:error minutes:600:error … »."""
    return " ".join(f"{stage}:{seconds}:{level}" for stage, seconds, level in DEADLINE_STAGES) + (
        f" {DEADLINE_OPEN[0]}::{DEADLINE_OPEN[1]}"
    )


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
