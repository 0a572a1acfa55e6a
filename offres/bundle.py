"""The browser's encryption code as served: its bytes' SHA-256, for the Subresource Integrity
of every page that loads it and for the public page « Vérifier le code de chiffrement ».

The bundle (static/offres/build/chiffrement.js) is built by `make static` from the sources of
static/offres/src/ and npm's age-encryption, reproducibly (docs/chiffrement.md): an auditor who
builds it from the same commit gets the same bytes, hence the digest published here. The file
is read once per build (its size and modification time key the cache), from the collected
static files when they exist (what WhiteNoise serves in production), else from the source
folder (runserver, the tests).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.exceptions import ImproperlyConfigured

BUNDLE = "offres/build/chiffrement.js"


@dataclass(frozen=True)
class BundleDigest:
    name: str
    size: int
    sha256: bytes

    @property
    def hex(self) -> str:
        return self.sha256.hex()

    @property
    def integrity(self) -> str:
        """The value of the `integrity` attribute (W3C Subresource Integrity)."""
        return "sha256-" + base64.b64encode(self.sha256).decode("ascii")


_cache: dict[tuple[str, int, int], BundleDigest] = {}


def bundle_path(name: str = BUNDLE) -> Path:
    """The file served under `{% static name %}`: in production the collected copy under its
    hashed name (the manifest storage may rewrite a copy, never the original's bytes in
    place), else the one in the apps' static folders."""
    if settings.STATIC_ROOT:
        stored_name = getattr(staticfiles_storage, "stored_name", None)
        try:
            served = stored_name(name) if stored_name else name
        except ValueError:  # not collected (no manifest entry)
            served = name
        collected = Path(settings.STATIC_ROOT) / served
        if collected.is_file():
            return collected
    found = finders.find(name)
    if not found:
        raise ImproperlyConfigured(
            f"Le code de chiffrement {name} n'est pas construit : lancez « make static »."
        )
    return Path(found)


def bundle_digest(name: str = BUNDLE) -> BundleDigest:
    path = bundle_path(name)
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    digest = _cache.get(key)
    if digest is None:
        data = path.read_bytes()
        digest = BundleDigest(name=name, size=len(data), sha256=hashlib.sha256(data).digest())
        for stale in [k for k in _cache if k[0] == key[0]]:
            del _cache[stale]
        _cache[key] = digest
    return digest
