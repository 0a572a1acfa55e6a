"""The running SHA-256 of an upload: resumed from a saved state by whichever process gets
the next chunk, equal to hashlib's over the whole file, so the file is never read back; and
the read-back still gives the same digest where that state is unavailable."""

import hashlib
import io
import os
import random

import pytest
from django.core.files.storage import FileSystemStorage

from offres import deposits, digests
from offres.models import DepositFile
from tests.factories import MembershipFactory

from . import builders

pytestmark = pytest.mark.django_db


def test_a_saved_state_resumes_to_hashlibs_digest():
    assert digests.AVAILABLE, "libcrypto's SHA256_CTX should load here (Debian's OpenSSL 3)"
    data = os.urandom(3 * 1024 * 1024 + 17)
    cuts = sorted(random.Random(5).sample(range(1, len(data)), 20))
    state = None
    for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
        running = digests.ResumableSha256(state)
        running.update(data[start:end])
        state = running.state()
        assert len(state) == digests.STATE_BYTES
    assert digests.ResumableSha256(state).hexdigest() == hashlib.sha256(data).hexdigest()
    with pytest.raises(ValueError, match="112 attendus"):
        digests.ResumableSha256(b"court")


def _upload_in_chunks(published, sizes, *, running=True):
    consultation, _ = published
    user = MembershipFactory(company_admin=True).user
    opened = deposits.deposit_open(
        consultation=consultation, company=deposits.company_for(user), user=user, lots=[]
    )
    ciphertext = builders.encrypt_to(consultation, "offer", os.urandom(sum(sizes)))
    file = deposits.file_add(deposit=opened, user=user, envelope="offer", name="o.age", size=len(ciphertext))
    offset = 0
    while offset < len(ciphertext):
        part = ciphertext[offset : offset + 100_000]
        file = deposits.chunk_receive(
            file=file, user=user, offset=offset, stream=io.BytesIO(part), length=len(part)
        )
        offset += len(part)
        if offset < len(ciphertext):
            # saved for the next process (when there is a running digest)
            assert bool(DepositFile.objects.get(pk=file.pk).sha256_state) is running
    return DepositFile.objects.get(pk=file.pk), ciphertext


def test_an_upload_is_hashed_as_it_streams_and_never_read_back(published, monkeypatch):
    def no_read_back(*args, **kwargs):
        raise AssertionError("the file was read back from storage")

    monkeypatch.setattr(FileSystemStorage, "open", no_read_back)
    file, ciphertext = _upload_in_chunks(published, [450_000])
    assert file.sha256 == hashlib.sha256(ciphertext).hexdigest()
    assert file.sha256_state is None


def test_without_a_running_state_the_file_is_read_back_to_the_same_digest(published, monkeypatch):
    monkeypatch.setattr(digests, "AVAILABLE", False)
    file, ciphertext = _upload_in_chunks(published, [450_000], running=False)
    assert file.sha256 == hashlib.sha256(ciphertext).hexdigest()
