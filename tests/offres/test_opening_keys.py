"""Opening keys held by the commission: created at publication, split k-of-n, sealed to each
member's ceremony passphrase; rebuilt only from k right shares, and the result decrypts a
deposit made with the `age` command line."""

import base64
import io
import shutil
import subprocess

import pyrage
import pytest
from django.core import serializers
from django.db import connection

from comptes import services as comptes_services
from config.errors import ApplicationError
from marches import services
from offres import opening_keys
from offres.models import KeyShare, OpeningKey
from preuves.models import JournalEntry
from tests.factories import CEREMONY_PASSPHRASE, MembershipFactory

AGE = shutil.which("age")


def shares_of(key: OpeningKey) -> list[KeyShare]:
    return list(key.shares.select_related("member", "ceremony_key", "opening_key").order_by("index"))


def test_publication_creates_one_key_per_envelope_with_a_share_per_member(published):
    consultation, members = published
    keys = list(consultation.opening_keys.order_by("envelope"))
    assert [k.envelope for k in keys] == ["application", "offer"]
    for key in keys:
        assert key.recipient.startswith("age1")
        assert (key.threshold, key.share_count) == (2, 3)
        shares = shares_of(key)
        assert [s.index for s in shares] == [1, 2, 3]
        assert {s.member for s in shares} == set(members)
        assert all(len(s.commitment) == 64 for s in shares)
    assert keys[0].recipient != keys[1].recipient  # opening candidatures never exposes offers
    entry = JournalEntry.objects.get(action="opening_keys.created")
    assert entry.payload["offer"]["recipient"] == keys[1].recipient
    assert len(entry.payload["offer"]["shares"]) == 3


def test_publication_is_refused_while_a_member_has_no_passphrase(buyer_agent):
    agent, buyer = buyer_agent.user, buyer_agent.organisation
    from tests.marches.test_services import _fields

    consultation = services.consultation_create(buyer=buyer, created_by=agent, **_fields())
    members = [
        MembershipFactory(
            organisation=buyer, role="commission_member", user__totp=True, user__ceremony=i > 0
        ).user
        for i in range(3)
    ]
    services.commission_set(
        consultation=consultation, updated_by=agent, members=members, president=members[1], quorum=2
    )
    services.dce_add_files(
        consultation=consultation, added_by=agent, uploads=[("RC.pdf", io.BytesIO(b"%PDF"))]
    )
    with pytest.raises(ApplicationError, match="n'ont pas encore choisi leur phrase de passe de séance"):
        services.consultation_publish(consultation=consultation, published_by=agent)
    assert not OpeningKey.objects.exists()


def test_k_right_shares_rebuild_the_key_and_decrypt_a_deposit_made_with_the_age_cli(published, tmp_path):
    if AGE is None:
        pytest.skip("needs Debian's package age")
    consultation, _ = published
    key = consultation.opening_keys.get(envelope="offer")
    (tmp_path / "offre.pdf").write_bytes(b"%PDF-1.7 offre de prix : 123 456,78 EUR HT")
    subprocess.run(
        [AGE, "-r", key.recipient, "-o", "offre.pdf.age", "offre.pdf"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    first, _, third = shares_of(key)
    unlocked = [opening_keys.unlock_share(s, CEREMONY_PASSPHRASE) for s in (first, third)]
    identity = opening_keys.reconstruct(key, unlocked)
    assert str(identity.to_public()) == key.recipient
    clear = pyrage.decrypt((tmp_path / "offre.pdf.age").read_bytes(), [identity])
    assert clear == (tmp_path / "offre.pdf").read_bytes()


def test_fewer_than_k_shares_are_refused(published):
    consultation, _ = published
    key = consultation.opening_keys.get(envelope="offer")
    one = opening_keys.unlock_share(shares_of(key)[0], CEREMONY_PASSPHRASE)
    with pytest.raises(opening_keys.OpeningError, match=r"2 parts distinctes sont nécessaires .* 1 réunie"):
        opening_keys.reconstruct(key, [one])
    with pytest.raises(opening_keys.OpeningError, match="1 réunie"):
        opening_keys.reconstruct(key, [one, one])  # the same share twice is still one share


def test_a_wrong_passphrase_opens_nothing(published):
    consultation, _ = published
    share = shares_of(consultation.opening_keys.get(envelope="offer"))[0]
    with pytest.raises(opening_keys.OpeningError, match="Phrase de passe de séance incorrecte"):
        opening_keys.unlock_share(share, CEREMONY_PASSPHRASE + " ")


def test_a_corrupted_share_is_caught_by_its_commitment(published):
    consultation, _ = published
    key = consultation.opening_keys.get(envelope="offer")
    first, second, _ = shares_of(key)
    good = opening_keys.unlock_share(first, CEREMONY_PASSPHRASE)
    corrupted = opening_keys.UnlockedShare(second, bytes(32))
    with pytest.raises(opening_keys.OpeningError, match="ne correspond pas à son engagement publié"):
        opening_keys.reconstruct(key, [good, corrupted])


def test_wrong_shares_never_produce_a_key(published):
    """Below the commitments, authenticated encryption: raw shares that do not belong
    together are refused, they never yield another key."""
    consultation, _ = published
    key = consultation.opening_keys.get(envelope="offer")
    first, second, _ = (opening_keys.unlock_share(s, CEREMONY_PASSPHRASE) for s in shares_of(key))
    flipped = bytes([second.value[0] ^ 1]) + second.value[1:]
    with pytest.raises(opening_keys.OpeningError, match="au moins l'une d'elles est erronée"):
        opening_keys.open_identity(key, [(first.share.index, first.value), (second.share.index, flipped)])


def test_shares_of_the_other_envelope_do_not_open_this_one(published):
    consultation, _ = published
    offer = consultation.opening_keys.get(envelope="offer")
    application = consultation.opening_keys.get(envelope="application")
    unlocked = [opening_keys.unlock_share(s, CEREMONY_PASSPHRASE) for s in shares_of(application)[:2]]
    with pytest.raises(opening_keys.OpeningError, match="appartient à une autre clé d'ouverture"):
        opening_keys.reconstruct(offer, unlocked)
    raw = [(u.share.index, u.value) for u in unlocked]
    with pytest.raises(opening_keys.OpeningError, match="erronée"):
        opening_keys.open_identity(offer, raw)


def test_the_clear_identity_and_kek_are_written_nowhere(published, caplog):
    """Rebuild the key, then look for it — and for the KEK — in every row of the database and
    every log record: neither may appear, in any encoding."""
    consultation, _ = published
    key = consultation.opening_keys.get(envelope="offer")
    unlocked = [opening_keys.unlock_share(s, CEREMONY_PASSPHRASE) for s in shares_of(key)[:2]]
    identity = str(opening_keys.reconstruct(key, unlocked))
    kek = opening_keys.combine([(u.share.index, u.value) for u in unlocked])
    secrets_ = [identity, identity.lower(), kek.hex(), base64.b64encode(kek).decode()]
    dump = io.StringIO()
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            for row in cursor.fetchall():
                for value in row:
                    dump.write(value.hex() if isinstance(value, bytes | memoryview) else str(value))
                    if isinstance(value, bytes | memoryview):
                        dump.write(bytes(value).decode("latin-1"))
                    dump.write("\n")
    everything = dump.getvalue() + serializers.serialize("json", JournalEntry.objects.all())
    everything += "\n".join(record.getMessage() for record in caplog.records)
    assert key.recipient in everything  # the dump does see what is stored
    for secret in secrets_:
        assert secret not in everything
    assert kek.decode("latin-1") not in everything


def test_a_new_passphrase_needs_the_current_one_and_keeps_old_shares_openable(published):
    consultation, members = published
    member = members[0]
    with pytest.raises(ApplicationError, match="Phrase de passe de séance actuelle incorrecte"):
        comptes_services.ceremony_passphrase_set(
            user=member, passphrase="une toute autre phrase de séance", current_passphrase="faux"
        )
    comptes_services.ceremony_passphrase_set(
        user=member, passphrase="une toute autre phrase de séance", current_passphrase=CEREMONY_PASSPHRASE
    )
    share = KeyShare.objects.select_related("ceremony_key", "member", "opening_key").get(
        opening_key__consultation=consultation, opening_key__envelope="offer", member=member
    )
    assert share.ceremony_key.retired_at is not None
    opening_keys.unlock_share(share, CEREMONY_PASSPHRASE)  # sealed to the key of its time


@pytest.mark.parametrize(
    ("passphrase", "message"),
    [
        ("court", "au moins 16 caractères"),
        ("1234567890123456789", "entièrement numérique"),
        ("correct-horse-battery-staple", "différente du mot de passe de connexion"),
    ],
)
def test_weak_passphrases_are_refused(db, passphrase, message):
    user = MembershipFactory(commission_member=True).user
    with pytest.raises(ApplicationError, match=message):
        comptes_services.ceremony_passphrase_set(user=user, passphrase=passphrase)
