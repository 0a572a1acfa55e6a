"""Properties of the chunk-range logic of deposits (offres/deposits.py::chunk_receive), for
any sequence of chunks a client may send (any offset, any length, too short, too long, out
of order, overlapping): a chunk is stored if and only if it starts exactly where the stored
bytes end, is 1 to DEPOSIT_CHUNK_MAX_BYTES long, stays within the announced size, and (the
first) holds the whole age header; every refusal says where to resume or what is wrong, and
what is stored is always exactly the file's first `received` bytes."""

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.errors import ApplicationError
from offres import age_format, deposits
from offres.models import DepositChunk
from tests.factories import MembershipFactory
from tests.marches.test_services import publishable
from tests.offres import builders

CHUNK_MAX = 700


@pytest.fixture
def upload(db, settings):
    settings.DEPOSIT_CHUNK_MAX_BYTES = CHUNK_MAX
    # Every example opens a deposit of the same company, none finalised: not what is tested here.
    settings.DEPOSITS_UNFINISHED_MAX = 1000
    settings.DEPOSITS_UNFINISHED_BYTES_FACTOR = 1000
    from marches import services

    agent = MembershipFactory(buyer_agent=True, user__totp=True)
    consultation, _ = publishable(agent, reference="2026-PROP-1")
    consultation = services.consultation_publish(consultation=consultation, published_by=agent.user)
    bidder = MembershipFactory(company_admin=True).user
    ciphertext = builders.encrypt_to(consultation, "offer", bytes(range(256)) * 8)
    header = age_format.parse_header(ciphertext).length
    return consultation, bidder, ciphertext, header


def _stored(file) -> bytes:
    stored = deposits.StoredFile(file)
    try:
        return b"".join(iter(lambda: stored.read(4096), b""))
    finally:
        stored.close()


# One attempt: an offset relative to what the server holds (or anywhere), and a length.
ATTEMPT = st.tuples(
    st.one_of(st.just(0), st.integers(-3, 3), st.integers(0, 3000)),
    st.one_of(st.integers(0, CHUNK_MAX + 5), st.integers(0, 3000)),
    st.booleans(),  # offset relative to the bytes received, or absolute
)


@settings(
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(attempts=st.lists(ATTEMPT, min_size=1, max_size=12))
def test_chunks_are_stored_exactly_when_they_continue_the_file(upload, attempts):
    consultation, bidder, ciphertext, header = upload
    deposit = deposits.deposit_open(
        consultation=consultation, company=deposits.company_for(bidder), user=bidder, lots=[]
    )
    file = deposits.file_add(
        deposit=deposit, user=bidder, envelope="offer", name="offre.age", size=len(ciphertext)
    )
    received = 0
    for shift, length, relative in attempts:
        offset = max(0, received + shift) if relative else shift
        body = ciphertext[offset : offset + length].ljust(length, b"\0")
        acceptable = (
            not file.complete
            and offset == received
            and 1 <= length <= CHUNK_MAX
            and offset + length <= len(ciphertext)
            and (offset > 0 or length >= header)
        )
        refusal = None
        try:
            file = deposits.chunk_receive(
                file=file, user=bidder, offset=offset, stream=io.BytesIO(body), length=length
            )
        except ApplicationError as exc:
            refusal = exc
        if refusal is None:
            assert acceptable, (offset, length)
            received += length
        else:
            assert not acceptable, (offset, length, refusal.message)
            assert refusal.message
            assert refusal.status in (400, 409, 413, 415)
            if refusal.code == "wrong_offset":
                assert refusal.details == {"expected_offset": received}
                assert offset != received
            if refusal.code in ("chunk_size", "too_large"):
                assert not 1 <= length <= CHUNK_MAX or offset + length > len(ciphertext)
        file.refresh_from_db()
        assert file.received == received
        assert _stored(file) == ciphertext[:received]
        assert sum(DepositChunk.objects.filter(file=file).values_list("size", flat=True)) == received
    assert file.complete == (received == len(ciphertext))
