"""The copied standards are the official files, unchanged (dume/standards/SHA256SUMS)."""

import hashlib

from .conftest import STANDARDS


def test_every_copied_file_matches_its_recorded_digest():
    lines = (STANDARDS / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 253
    for line in lines:
        digest, relative = line.split("  ", 1)
        path = STANDARDS / relative
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, relative
    listed = {line.split("  ", 1)[1].removeprefix("./") for line in lines}
    present = {
        str(p.relative_to(STANDARDS))
        for p in STANDARDS.rglob("*")
        if p.is_file() and p.name not in ("SHA256SUMS", "PROVENANCE.md")
    }
    assert present == listed
