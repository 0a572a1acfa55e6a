"""Safe unpacking of the zip archives a buyer uploads as tender documents (DCE).

An uploaded archive is hostile until proven otherwise: paths that climb out of the tree
(`../`), absolute paths, symbolic links, encrypted entries, and zip bombs whose headers
announce small sizes. Nothing here trusts a size read from a header for a limit: the bytes
actually decompressed are counted while each member streams, chunk by chunk, into a
temporary file, and the archive is refused as soon as a limit is crossed.

A refusal is always for the whole archive: the caller imports all of its files or none.
Pure Python (stdlib `zipfile`), no model: the caller stores the files.
"""

import hashlib
import re
import stat
import tempfile
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from django.conf import settings

from config.errors import ApplicationError

from .names import PathTree

CHUNK_SIZE = 64 * 1024
# The compression ratio is judged once a member has produced this much: below it, a text
# file full of repetitions may compress 1000:1 and still be harmless.
RATIO_CHECK_AFTER = 1024 * 1024
# Extracted files up to this size stay in memory, larger ones roll over to a temporary file
# on disk. Small on purpose: extract_zip() holds every file of the archive at once.
SPOOL_MAX_SIZE = 128 * 1024
MAX_COMPONENT_BYTES = 255
MAX_PATH_LENGTH = 1024
# Left behind by the file managers of macOS and Windows: never part of a DCE.
JUNK_DIRECTORIES = frozenset({"__MACOSX"})
JUNK_FILES = frozenset({".DS_Store", "Thumbs.db"})
# Bidirectional overrides and isolates: they make « rapport\u202efdp.exe » display as
# « rapportexe.pdf ». Refused with the control characters.
_BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_DRIVE = re.compile(r"^[A-Za-z]:")
# Device names Windows reserves, with any extension (« CON.pdf » too): such a file cannot be
# created there, so a DCE or a deposit holding one could not be unpacked.
_RESERVED = re.compile(r"^(CON|PRN|AUX|NUL|COM[0-9]|LPT[0-9])(\.|$)", re.IGNORECASE)
_UTF8_FLAG = 0x800
_ENCRYPTED_FLAG = 0x1


@dataclass(frozen=True)
class ExtractedFile:
    """One file of the archive: `file` is open, positioned at 0; the caller closes it."""

    path: str
    size: int
    sha256: str
    file: IO[bytes]


@dataclass(frozen=True)
class ArchiveLimits:
    max_files: int
    max_total_bytes: int
    max_ratio: int

    @classmethod
    def from_settings(cls) -> "ArchiveLimits":
        return cls(
            max_files=getattr(settings, "DCE_MAX_FILES", 1000),
            max_total_bytes=getattr(settings, "DCE_MAX_TOTAL_BYTES", 1024**3),
            max_ratio=getattr(settings, "DCE_MAX_COMPRESSION_RATIO", 100),
        )


def _shown(name: str) -> str:
    """The name as it may be printed in a message: no control character, bounded length."""
    cleaned = "".join(
        "\ufffd" if unicodedata.category(char) == "Cc" or char in _BIDI_CONTROLS else char for char in name
    )
    return cleaned if len(cleaned) <= 200 else cleaned[:199] + "…"


def _refuse_path(name: str, reason: str) -> ApplicationError:
    return ApplicationError(
        f"Le chemin de fichier « {_shown(name)} » est refusé : {reason}.",
        code="unsafe_path",
        details={"path": _shown(name), "reason": reason},
    )


def safe_relative_path(name: str) -> str:
    """The client-supplied `name` as a clean POSIX relative path, or ApplicationError.

    Backslashes become slashes, leading `./` and duplicate slashes go, Unicode is NFC (a
    name typed on macOS equals the same name typed on Windows). Refused: empty names,
    absolute paths, drive letters, `..`, control characters, names Windows reserves (« CON »,
    « NUL.txt »…), over-long names.
    """
    if not name or not name.strip():
        raise _refuse_path(name, "le nom est vide")
    if any(unicodedata.category(char) == "Cc" or char in _BIDI_CONTROLS for char in name):
        raise _refuse_path(name, "il contient des caractères de contrôle")
    path = unicodedata.normalize("NFC", name.replace("\\", "/"))
    if path.startswith("/"):
        raise _refuse_path(name, "c'est un chemin absolu")
    if _DRIVE.match(path):
        raise _refuse_path(name, "il désigne un lecteur (« C: »)")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise _refuse_path(name, "il remonte dans l'arborescence (« .. »)")
    if not parts:
        raise _refuse_path(name, "le nom est vide")
    reserved = next((part for part in parts if _RESERVED.match(part.rstrip(" ."))), None)
    if reserved:
        raise _refuse_path(name, f"« {reserved} » est un nom réservé par Windows")
    if any(len(part.encode()) > MAX_COMPONENT_BYTES for part in parts):
        raise _refuse_path(name, f"un nom dépasse {MAX_COMPONENT_BYTES} octets")
    path = "/".join(parts)
    if len(path) > MAX_PATH_LENGTH:
        raise _refuse_path(name, f"le chemin dépasse {MAX_PATH_LENGTH} caractères")
    return path


def _archive_error(message: str, code: str, **details: object) -> ApplicationError:
    return ApplicationError(f"{message} Aucun fichier n'a été importé.", code=code, details=details)


def _member_name(info: zipfile.ZipInfo) -> str:
    """The entry's name, decoded as its author meant it.

    Without the UTF-8 flag, zipfile decodes names as CP437; but many tools write UTF-8
    without setting the flag, and the Windows file manager of a French computer writes in
    its OEM code page, CP850 (same accented lowercase letters as CP437, not the capitals).
    """
    if info.flag_bits & _UTF8_FLAG:
        return info.filename
    try:
        raw = info.filename.encode("cp437")
    except UnicodeEncodeError:  # a name zipfile already decoded some other way
        return info.filename
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp850")


def _is_junk(path: str) -> bool:
    parts = path.split("/")
    return parts[0] in JUNK_DIRECTORIES or parts[-1] in JUNK_FILES


def _plan(zf: zipfile.ZipFile, limits: ArchiveLimits) -> list[tuple[zipfile.ZipInfo, str]]:
    """Every check that needs no decompression, on every entry, before anything is extracted."""
    planned: list[tuple[zipfile.ZipInfo, str]] = []
    tree = PathTree()
    for info in zf.infolist():
        name = _member_name(info)
        try:
            path = safe_relative_path(name)
        except ApplicationError as exc:
            raise _archive_error(
                f"L'archive contient un chemin dangereux : « {_shown(name)} » ({exc.details['reason']}).",
                "unsafe_path",
                path=_shown(name),
            ) from exc
        if info.is_dir() or _is_junk(path):
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            raise _archive_error(
                f"L'archive contient un lien symbolique : « {path} ». Les liens ne sont pas acceptés.",
                "symlink",
                path=path,
            )
        if info.flag_bits & _ENCRYPTED_FLAG:
            raise _archive_error(
                f"L'archive contient un fichier protégé par mot de passe : « {path} ». "
                "Déposez une archive sans mot de passe.",
                "encrypted",
                path=path,
            )
        # Compared case-folded and NFC (marches.names): the DCE is downloaded and unpacked
        # on Windows and macOS, where « Plan.pdf » and « plan.pdf » are the same file.
        clash = tree.add(path)
        if clash:
            raise _archive_error(clash.message("L'archive contient"), "duplicate_path", path=clash.second)
        planned.append((info, path))
        if len(planned) > limits.max_files:
            raise _archive_error(f"L'archive contient plus de {limits.max_files} fichiers.", "too_many_files")
    return planned


def _check_announced_total(planned: list[tuple[zipfile.ZipInfo, str]], limits: ArchiveLimits) -> None:
    """Refuses an honest archive announced too large before anything is unpacked.

    Headers may lie, so this is no guarantee: the decompressed bytes are counted too."""
    if sum(info.file_size for info, _ in planned) > limits.max_total_bytes:
        raise _too_large(limits)


def _too_large(limits: ArchiveLimits) -> ApplicationError:
    return _archive_error(
        f"Une fois décompressée, l'archive dépasse la taille maximale autorisée "
        f"({_human_size(limits.max_total_bytes)}).",
        "archive_too_large",
    )


def _human_size(size: int) -> str:
    for unit, factor in (("Go", 1024**3), ("Mo", 1024**2), ("ko", 1024)):
        if size >= factor:
            return f"{size / factor:.3g} {unit}".replace(".", ",")
    return f"{size} octets"


def iter_zip(fileobj: IO[bytes], *, limits: ArchiveLimits) -> Iterator[ExtractedFile]:
    """Yield the files of the zip archive `fileobj`, one at a time, each checked and hashed.

    Every entry is checked (paths, links, encryption, duplicates, count) before the first
    file is yielded; sizes and compression ratios are checked on the decompressed bytes as
    they stream, so an ApplicationError may still come after some files were yielded. The
    caller must then treat the whole archive as refused: close every file it received, and
    undo what it stored (run inside a transaction, delete the stored blobs). extract_zip()
    does the closing for a caller that wants the whole list at once.

    Directories are not yielded (their structure lives in the paths); nested archives are
    ordinary files, not unpacked.
    """
    fileobj.seek(0, 2)
    archive_size = fileobj.tell()
    fileobj.seek(0)
    try:
        zf = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        raise _not_a_zip(fileobj) from exc
    with zf:
        total = 0
        planned = _plan(zf, limits)
        _check_announced_total(planned, limits)
        for info, path in planned:
            # A header can overstate the compressed size: it is never more than the archive.
            compressed = max(1, min(info.compress_size, archive_size))
            extracted = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_SIZE, mode="w+b")  # noqa: SIM115
            try:
                digest = hashlib.sha256()
                size = 0
                with zf.open(info) as member:
                    while chunk := member.read(CHUNK_SIZE):
                        size += len(chunk)
                        total += len(chunk)
                        if total > limits.max_total_bytes:
                            raise _too_large(limits)
                        if size > RATIO_CHECK_AFTER and size / compressed > limits.max_ratio:
                            raise _archive_error(
                                f"Le fichier « {path} » de l'archive est anormalement compressé "
                                f"(plus de {limits.max_ratio} fois) : l'archive est refusée par "
                                "précaution (« bombe zip »).",
                                "zip_bomb",
                                path=path,
                            )
                        digest.update(chunk)
                        extracted.write(chunk)
                extracted.seek(0)
            except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
                extracted.close()
                raise _archive_error(
                    f"Le fichier « {path} » de l'archive est endommagé et ne peut pas être lu.",
                    "bad_zip",
                    path=path,
                ) from exc
            except NotImplementedError as exc:  # deflate64, AES encryption…
                extracted.close()
                raise _archive_error(
                    f"Le fichier « {path} » de l'archive utilise une méthode de compression non "
                    "prise en charge. Recréez l'archive au format zip standard.",
                    "unsupported_zip",
                    path=path,
                ) from exc
            except BaseException:
                extracted.close()
                raise
            yield ExtractedFile(path=path, size=size, sha256=digest.hexdigest(), file=extracted)


def _not_a_zip(fileobj: IO[bytes]) -> ApplicationError:
    name = getattr(fileobj, "name", None)
    shown = f"« {_shown(str(name).rsplit('/', 1)[-1])} » " if isinstance(name, str) and name else ""
    return _archive_error(f"Le fichier {shown}n'est pas une archive zip valide.", "bad_zip")


def extract_zip(fileobj: IO[bytes], *, limits: ArchiveLimits) -> list[ExtractedFile]:
    """Every file of the archive, or ApplicationError with every temporary file closed.

    Holds all the files at once (small ones in memory, the others as open temporary
    files): iter_zip() is lighter for a caller that stores each file as it comes.
    """
    extracted: list[ExtractedFile] = []
    try:
        extracted.extend(iter_zip(fileobj, limits=limits))
    except BaseException:
        for item in extracted:
            item.file.close()
        raise
    return extracted
