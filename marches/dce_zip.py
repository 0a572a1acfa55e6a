"""The whole DCE as one zip, streamed: each file is read from storage in chunks only when the
archive reaches it, so a 2 GB DCE costs the server a few chunks of memory, never the archive.

Stored (not deflated): tender documents are mostly PDFs and office files that are already
compressed, and a stored archive has a size known in advance (a Content-Length, so browsers
show progress)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from zipstream import ZipStream

from . import storage
from .models import DceFile

CHUNK_SIZE = 256 * 1024


def _blob_chunks(blob: str) -> Iterator[bytes]:
    # A generator: the blob is opened when the archive reaches this file, not before.
    with storage.open_blob(blob) as fileobj:
        while chunk := fileobj.read(CHUNK_SIZE):
            yield chunk


def folder_name(reference: str) -> str:
    """A reference as a folder name that every unzip tool accepts."""
    return re.sub(r"[^\w.-]+", "_", reference).strip("._") or "DCE"


def dce_zip(files: Iterable[DceFile], *, top_folder: str) -> ZipStream:
    """A sized ZipStream (len() gives its exact final size) of the files under `top_folder/`."""
    archive = ZipStream(sized=True)
    for dce_file in files:
        archive.add(_blob_chunks(dce_file.blob), f"{top_folder}/{dce_file.path}", size=dce_file.size)
    return archive
