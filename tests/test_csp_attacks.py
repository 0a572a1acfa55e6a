"""The CSP report endpoint under attack: anyone may post to it, so whatever the body holds
(NUL characters, lone surrogates, deep or odd JSON, huge numbers) is a 204 or a French 400,
never a 500, on SQLite and on PostgreSQL (whose jsonb refuses NUL and lone surrogates)."""

import json

import pytest
from django.core.cache import cache
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from preuves import journal
from preuves.models import JournalEntry

URL = "/csp/rapport"


@pytest.fixture(autouse=True)
def _fresh_budget():
    cache.clear()
    yield
    cache.clear()


def _post(client, body: bytes | str, **extra):
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    return client.post(URL, body, content_type="application/csp-report", **extra)


@pytest.mark.parametrize(
    "value",
    ["a\u0000b", "\ud800", "x\udfff", "\u0000" * 300],
    ids=["nul", "lone-high-surrogate", "lone-low-surrogate", "nuls"],
)
def test_characters_the_database_cannot_hold_are_journaled_without_them(db, client, value):
    fields = {
        "document-uri": f"http://testserver/{value}",
        "effective-directive": value,
        "blocked-uri": value,
        "source-file": f"https://ailleurs.example/{value}",
        "script-sample": value,
        "disposition": value,
    }
    body = json.dumps({"csp-report": fields})  # \u0000 and \ud800 escapes: valid JSON text
    answer = _post(client, body, HTTP_USER_AGENT=f"navigateur{value}")
    assert answer.status_code == 204
    entry = JournalEntry.objects.get(action="csp.violation")
    stored = json.dumps(entry.payload)
    assert "\\u0000" not in stored
    assert "\\ud800" not in stored
    assert "\\udfff" not in stored
    assert journal.verify().ok


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=4)
    ),
    max_leaves=12,
)
_fields = st.dictionaries(
    st.sampled_from(
        ["document-uri", "documentURL", "blocked-uri", "blockedURL", "source-file", "sourceFile",
         "line-number", "lineNumber", "script-sample", "sample", "effective-directive", "disposition"]
    ),
    _json | st.text(max_size=40).map(lambda t: "http://testserver/" + t),
)  # fmt: skip


@hypothesis_settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.one_of(
        _fields.map(lambda f: {"csp-report": f}),
        st.lists(_fields.map(lambda f: {"type": "csp-violation", "body": f}), max_size=3),
        _json,
    )
)
def test_any_json_report_is_a_204_or_a_400(db, client, body):
    cache.clear()
    answer = _post(client, json.dumps(body))
    assert answer.status_code in (204, 400)
