"""Content-addressed storage of DCE files: a file is stored once under its SHA-256, whatever
its name and however many versions share it. Works with any Django storage (local files by
default, S3 in production)."""

from __future__ import annotations

from typing import IO

from django.core.files import File
from django.core.files.storage import default_storage

PREFIX = "dce"


def blob_name(sha256: str) -> str:
    return f"{PREFIX}/{sha256[:2]}/{sha256}"


def store_blob(fileobj: IO[bytes], sha256: str) -> str:
    name = blob_name(sha256)
    if not default_storage.exists(name):
        fileobj.seek(0)
        saved = default_storage.save(name, File(fileobj, name=sha256))
        if saved != name:  # a concurrent upload of the same content won the race
            default_storage.delete(saved)
    return name


def open_blob(name: str) -> IO[bytes]:
    return default_storage.open(name, "rb")
