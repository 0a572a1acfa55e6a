"""Properties of the consultation search filters (marches/forms_public.py), for any input:
the form never crashes, accepts exactly the dates of its range, and once valid its query runs
on the database and returns exactly the consultations whose deadline falls within the days
asked (Paris days), whatever they are."""

from datetime import date, datetime, timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marches.forms_public import DATE_MAX, DATE_MIN, SearchForm
from marches.models import DEPARTEMENTS
from tests.factories import ConsultationFactory

pytestmark = pytest.mark.django_db

PROPERTY = settings(
    max_examples=40,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ANY_DAY = st.dates(min_value=date.min, max_value=date.max)
NEAR_DAY = st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31))


@PROPERTY
@given(start=st.none() | ANY_DAY, end=st.none() | ANY_DAY)
def test_dates_valid_exactly_within_range_and_order(start, end):
    data = {}
    if start is not None:
        data["deadline_from"] = start.isoformat()
    if end is not None:
        data["deadline_to"] = end.isoformat()
    form = SearchForm.from_query(data)
    in_range = all(day is None or DATE_MIN <= day <= DATE_MAX for day in (start, end))
    ordered = start is None or end is None or start <= end
    assert form.is_valid() == (in_range and ordered), form.errors
    if form.is_valid():
        list(form.results().values_list("pk", flat=True))  # the query itself runs


@PROPERTY
@given(
    q=st.text(max_size=250),
    cpv=st.text(max_size=20),
    departement=st.text(max_size=4) | st.sampled_from(sorted(DEPARTEMENTS)),
    sort=st.text(max_size=10) | st.sampled_from(["deadline", "recent", "relevance"]),
    include_closed=st.booleans(),
)
def test_any_text_is_a_form_error_or_a_query_that_runs(q, cpv, departement, sort, include_closed):
    data = {"q": q, "cpv": cpv, "departement": departement, "sort": sort}
    if include_closed:
        data["include_closed"] = "on"
    form = SearchForm.from_query(data)
    if form.is_valid():
        list(form.results().values_list("pk", flat=True))
        assert form.cleaned_data["departement"] in DEPARTEMENTS | {""}
    else:
        assert form.errors  # said in French beside the field, never an exception
    if departement.strip() and departement not in DEPARTEMENTS:
        assert "departement" in form.errors


@pytest.fixture
def deadlines():
    """Consultations closing at various Paris times over two years, midnight edges included."""
    paris = timezone.get_current_timezone()
    moments = []
    for day in (
        date(2026, 1, 1),
        date(2026, 3, 29),
        date(2026, 10, 25),
        date(2026, 12, 31),
        date(2027, 6, 15),
    ):
        for hour, minute in ((0, 0), (0, 1), (12, 0), (23, 59)):
            moments.append(datetime(day.year, day.month, day.day, hour, minute, tzinfo=paris))
    return {ConsultationFactory(published=True, deadline=moment).pk: moment for moment in moments}


@PROPERTY
@given(start=st.none() | NEAR_DAY, end=st.none() | NEAR_DAY)
def test_results_are_exactly_the_deadlines_within_the_days(deadlines, start, end):
    data = {"include_closed": "on"}
    if start is not None:
        data["deadline_from"] = start.isoformat()
    if end is not None:
        data["deadline_to"] = end.isoformat()
    form = SearchForm.from_query(data)
    if start is not None and end is not None and start > end:
        assert not form.is_valid()
        return
    assert form.is_valid(), form.errors
    found = set(form.results().values_list("pk", flat=True))
    paris = timezone.get_current_timezone()
    expected = {
        pk
        for pk, moment in deadlines.items()
        if (start is None or moment.astimezone(paris).date() >= start)
        and (end is None or moment.astimezone(paris).date() <= end)
    }
    assert found == expected


@PROPERTY
@given(days=st.integers(min_value=-400, max_value=400))
def test_open_search_never_lists_a_past_deadline(deadlines, days):
    now = timezone.now() + timedelta(days=days)
    form = SearchForm.from_query({})
    assert form.is_valid()
    for pk in form.results(now=now).values_list("pk", flat=True):
        assert deadlines[pk] > now
