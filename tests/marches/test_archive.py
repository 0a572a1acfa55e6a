"""Safe unpacking of DCE zip archives: marches/archive.py, on archives built here."""

import hashlib
import io
import os
import stat
import struct
import tempfile
import tracemalloc
import unicodedata
import zipfile

import pytest

from config.errors import ApplicationError
from marches import archive
from marches.archive import ArchiveLimits, extract_zip, iter_zip, safe_relative_path

MiB = 1024 * 1024
LIMITS = ArchiveLimits(max_files=100, max_total_bytes=20 * MiB, max_ratio=100)


def make_zip(*entries, compression=zipfile.ZIP_DEFLATED) -> io.BytesIO:
    """A zip of (name or ZipInfo, bytes) entries, rewound."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in entries:
            zf.writestr(name, data, compress_type=compression)
    buffer.seek(0)
    return buffer


def patch_central_directory(buffer: io.BytesIO, offset: int, fmt: str, value: int, index: int = 0):
    """Overwrite one field of the index-th central directory header (layout: APPNOTE 4.3.12)."""
    data = bytearray(buffer.getvalue())
    position = -1
    for _ in range(index + 1):
        position = data.index(b"PK\x01\x02", position + 1)
    struct.pack_into(fmt, data, position + offset, value)
    return io.BytesIO(bytes(data))


def refused(buffer, limits=LIMITS) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        extract_zip(buffer, limits=limits)
    assert info.value.message.endswith("Aucun fichier n'a été importé.")
    return info.value


# --- safe_relative_path ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Règlement de consultation.pdf", "Règlement de consultation.pdf"),
        ("DCE\\Pièces\\CCAP.pdf", "DCE/Pièces/CCAP.pdf"),
        ("./DCE/./plans//lot 1/plan.dwg", "DCE/plans/lot 1/plan.dwg"),
        ("././a.txt", "a.txt"),
        ("dossier/", "dossier"),
        # Decomposed é, as macOS writes it, becomes the composed one.
        (
            unicodedata.normalize("NFD", "Cahier des clauses générales.pdf"),
            "Cahier des clauses générales.pdf",
        ),
        ("..a/b..", "..a/b.."),
    ],
)
def test_safe_relative_path_cleans(name, expected):
    assert safe_relative_path(name) == expected
    assert unicodedata.is_normalized("NFC", safe_relative_path(name))


@pytest.mark.parametrize(
    "name",
    [
        "",
        "   ",
        "./",
        "/",
        "../x",
        "a/../../x",
        "a/..",
        "..\\..\\Windows\\system.ini",
        "/etc/passwd",
        "\\\\serveur\\partage\\x",
        "C:\\x",
        "c:x",
        "a\x00b",
        "a\nb.pdf",
        "rapport\u202efdp.exe",
        "é" * 128 + ".pdf",
        "/".join(["d" * 200] * 6),
    ],
)
def test_safe_relative_path_refuses(name):
    with pytest.raises(ApplicationError) as info:
        safe_relative_path(name)
    assert info.value.code == "unsafe_path"
    assert info.value.message.startswith("Le chemin de fichier « ")
    assert "\x00" not in info.value.message
    assert "\n" not in info.value.message


# --- Normal archives ---------------------------------------------------------------------


def test_tree_is_kept_with_sizes_and_hashes():
    rc = b"%PDF-1.7 reglement de consultation\n" * 100
    plan = os.urandom(300_000)  # past the in-memory threshold: a real temporary file
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.mkdir("DCE")
        zf.mkdir("DCE/Plans")
        zf.writestr("DCE/Règlement de consultation.pdf", rc)
        zf.writestr("DCE/Plans/Plan masse.dwg", plan)
        zf.writestr("DCE/vide.txt", b"")
        zf.writestr("autre.zip", make_zip(("dedans.txt", b"x")).getvalue())

    files = extract_zip(buffer, limits=LIMITS)
    try:
        assert [f.path for f in files] == [
            "DCE/Règlement de consultation.pdf",
            "DCE/Plans/Plan masse.dwg",
            "DCE/vide.txt",
            "autre.zip",  # a nested archive is an ordinary file, not unpacked
        ]
        contents = {f.path: f.file.read() for f in files}
        assert contents["DCE/Règlement de consultation.pdf"] == rc
        assert contents["DCE/Plans/Plan masse.dwg"] == plan
        assert contents["DCE/vide.txt"] == b""
        assert zipfile.is_zipfile(io.BytesIO(contents["autre.zip"]))
        for f in files:
            assert f.size == len(contents[f.path])
            assert f.sha256 == hashlib.sha256(contents[f.path]).hexdigest()
    finally:
        for f in files:
            f.file.close()


def test_files_are_rewound_and_stored_entries_read():
    files = extract_zip(make_zip(("a.txt", b"abc"), compression=zipfile.ZIP_STORED), limits=LIMITS)
    assert files[0].file.tell() == 0
    assert files[0].file.read() == b"abc"
    assert files[0].sha256 == hashlib.sha256(b"abc").hexdigest()
    files[0].file.close()


def test_junk_entries_are_skipped_and_not_counted():
    buffer = make_zip(
        ("__MACOSX/._CCAP.pdf", b"resource fork"),
        ("__MACOSX/DCE/._plan.pdf", b"resource fork"),
        ("DCE/.DS_Store", b"finder"),
        ("Thumbs.db", b"vignettes"),
        ("DCE/Thumbs.db", b"vignettes"),
        ("DCE/CCAP.pdf", b"ccap"),
    )
    files = extract_zip(buffer, limits=ArchiveLimits(max_files=1, max_total_bytes=MiB, max_ratio=100))
    assert [f.path for f in files] == ["DCE/CCAP.pdf"]
    files[0].file.close()


def test_names_written_without_the_utf8_flag():
    """The Windows file manager writes names in its OEM code page (CP850 in France),
    other tools write UTF-8 without saying so: both come out right."""
    cp850 = "Règlement À.pdf".encode("cp850")
    utf8 = "Pièce écrite.pdf".encode()
    buffer = make_zip(("R" + "x" * (len(cp850) - 1), b"1"), ("P" + "y" * (len(utf8) - 1), b"2"))
    data = buffer.getvalue()
    data = data.replace(("R" + "x" * (len(cp850) - 1)).encode(), cp850)
    data = data.replace(("P" + "y" * (len(utf8) - 1)).encode(), utf8)
    files = extract_zip(io.BytesIO(data), limits=LIMITS)
    assert [f.path for f in files] == ["Règlement À.pdf", "Pièce écrite.pdf"]
    for f in files:
        f.file.close()


def test_limits_from_settings(settings):
    settings.DCE_MAX_FILES = 12
    settings.DCE_MAX_TOTAL_BYTES = 3456
    settings.DCE_MAX_COMPRESSION_RATIO = 7
    assert ArchiveLimits.from_settings() == ArchiveLimits(max_files=12, max_total_bytes=3456, max_ratio=7)
    del settings.DCE_MAX_FILES
    del settings.DCE_MAX_TOTAL_BYTES
    del settings.DCE_MAX_COMPRESSION_RATIO
    assert ArchiveLimits.from_settings() == ArchiveLimits(
        max_files=1000, max_total_bytes=1024**3, max_ratio=100
    )


# --- Refused archives --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("../x", "../x"),
        ("DCE/../../../etc/cron.d/x", "DCE/../../../etc/cron.d/x"),
        ("/etc/x", "/etc/x"),
        ("C:\\x", "C:\\x"),
        ("..\\..\\x.bat", "..\\..\\x.bat"),
    ],
)
def test_dangerous_paths_refuse_the_whole_archive(name, shown):
    error = refused(make_zip(("CCAP.pdf", b"ok"), (name, b"evil")))
    assert error.code == "unsafe_path"
    assert error.message.startswith(f"L'archive contient un chemin dangereux : « {shown} » (")


def test_dangerous_directory_entry_is_refused_too():
    assert refused(make_zip(("../dossier/", b""), ("a.txt", b"a"))).code == "unsafe_path"


def test_zip_bomb_is_refused_without_using_memory():
    # 50 MB of zeros deflate to about 50 kB: a ratio near 1000.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("bombe.bin", "w") as member:
        zeros = bytes(MiB)
        for _ in range(50):
            member.write(zeros)
    buffer.seek(0)
    assert len(buffer.getvalue()) < MiB

    tracemalloc.start()
    try:
        error = refused(buffer, ArchiveLimits(max_files=10, max_total_bytes=1024**3, max_ratio=100))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.code == "zip_bomb"
    assert "« bombe.bin »" in error.message
    assert peak < 5 * MiB


def test_a_well_compressed_small_text_file_is_fine():
    # Ratio far above 100, but under 1 MiB decompressed: an ordinary text file.
    text = b"Article 1 - Objet de la consultation. " * 20_000
    assert len(text) < MiB
    files = extract_zip(make_zip(("CCTP.txt", text)), limits=LIMITS)
    assert files[0].size == len(text)
    files[0].file.close()


def test_total_size_limit():
    buffer = make_zip(("a.bin", os.urandom(600_000)), ("b.bin", os.urandom(600_000)))
    error = refused(buffer, ArchiveLimits(max_files=10, max_total_bytes=MiB, max_ratio=100))
    assert error.code == "archive_too_large"
    assert "(1 Mo)" in error.message


def test_total_size_is_counted_on_the_bytes_actually_decompressed(monkeypatch):
    """With the check on the announced sizes out of the way, the bytes counted while
    streaming still stop the archive, after reading no more than the limit."""
    monkeypatch.setattr(archive, "_check_announced_total", lambda planned, limits: None)
    buffer = make_zip(("a.bin", os.urandom(600_000)), ("b.bin", os.urandom(600_000)))
    files = iter_zip(buffer, limits=ArchiveLimits(max_files=10, max_total_bytes=MiB, max_ratio=100))
    first = next(files)
    with pytest.raises(ApplicationError) as info:
        next(files)
    assert info.value.code == "archive_too_large"
    assert first.path == "a.bin"
    first.file.close()


def test_a_header_lying_about_the_size_gets_no_further():
    """The central directory announces 100 bytes for 2 MiB of data: zipfile stops at the
    announced size, the checksum then fails, and the archive is refused as damaged."""
    data = b"A" * (2 * MiB)
    lying = patch_central_directory(make_zip(("menteur.txt", data)), 24, "<I", 100)
    with zipfile.ZipFile(lying) as zf:
        assert zf.getinfo("menteur.txt").file_size == 100
    lying.seek(0)
    error = refused(lying, ArchiveLimits(max_files=10, max_total_bytes=1000, max_ratio=100))
    assert error.code == "bad_zip"
    assert "« menteur.txt »" in error.message


def test_file_count_limit():
    entries = [(f"piece-{i}.pdf", b"x") for i in range(4)]
    limits = ArchiveLimits(max_files=3, max_total_bytes=MiB, max_ratio=100)
    error = refused(make_zip(*entries), limits)
    assert error.code == "too_many_files"
    assert "plus de 3 fichiers" in error.message
    files = extract_zip(make_zip(*entries[:3]), limits=limits)
    assert len(files) == 3
    for f in files:
        f.file.close()


def test_symbolic_link_is_refused():
    link = zipfile.ZipInfo("DCE/lien")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    error = refused(make_zip(("DCE/CCAP.pdf", b"ok"), (link, b"/etc/passwd")))
    assert error.code == "symlink"
    assert "« DCE/lien »" in error.message


def test_encrypted_entry_is_refused():
    buffer = patch_central_directory(make_zip(("secret.pdf", b"chiffre")), 8, "<H", 0x1)
    error = refused(buffer)
    assert error.code == "encrypted"
    assert "mot de passe" in error.message


def test_unsupported_compression_method_is_refused():
    buffer = patch_central_directory(make_zip(("gros.pdf", b"x" * 100)), 10, "<H", 9)  # deflate64
    assert refused(buffer).code == "unsupported_zip"


@pytest.mark.parametrize(
    "names",
    [
        ["DCE/CCAP.pdf", "DCE//CCAP.pdf"],
        ["./DCE/CCAP.pdf", "DCE\\CCAP.pdf"],
        ["DCE/Plan.pdf", "dce/plan.PDF"],
        [unicodedata.normalize("NFD", "Pièce.pdf"), unicodedata.normalize("NFC", "Pièce.pdf")],
        ["DCE/annexe", "DCE/annexe/plan.pdf"],
        ["DCE/annexe/plan.pdf", "DCE/annexe"],
    ],
)
def test_duplicate_paths_are_refused(names):
    error = refused(make_zip(*[(name, b"x") for name in names]))
    assert error.code == "duplicate_path"
    assert "deux fois" in error.message or "de même nom" in error.message


def test_duplicate_messages():
    error = refused(make_zip(("DCE/CCAP.pdf", b"1"), ("DCE//CCAP.pdf", b"2")))
    assert error.message.startswith("L'archive contient deux fois le fichier « DCE/CCAP.pdf ».")
    error = refused(make_zip(("DCE/Plan.pdf", b"1"), ("dce/plan.PDF", b"2")))
    assert error.message.startswith(
        "L'archive contient deux éléments de même nom : « DCE/Plan.pdf » et « dce/plan.PDF » "
        "(majuscules et minuscules confondues)."
    )
    for names in (["DCE/annexe/plan.pdf", "DCE/Annexe"], ["DCE/annexe", "DCE/Annexe/plan.pdf"]):
        error = refused(make_zip(*[(name, b"x") for name in names]))
        assert error.message.startswith(
            "L'archive contient un fichier et un dossier de même nom : « DCE/annexe »."
        ), error.message


@pytest.mark.parametrize("content", [b"", b"ceci n'est pas une archive", b"PK\x03\x04" + bytes(100)])
def test_not_a_zip(content):
    error = refused(io.BytesIO(content))
    assert error.code == "bad_zip"
    assert error.message == "Le fichier n'est pas une archive zip valide. Aucun fichier n'a été importé."


def test_not_a_zip_names_the_file():
    with tempfile.NamedTemporaryFile(suffix="-DCE.zip") as upload:
        upload.write(b"%PDF-1.7")
        upload.flush()
        error = refused(upload)
    assert error.message.startswith(f"Le fichier « {os.path.basename(upload.name)} » n'est pas")


# --- Temporary files are never leaked --------------------------------------------------


@pytest.fixture
def spooled(monkeypatch):
    """Every temporary file the module creates."""
    created = []
    original = tempfile.SpooledTemporaryFile

    def recording(*args, **kwargs):
        created.append(original(*args, **kwargs))
        return created[-1]

    monkeypatch.setattr(archive.tempfile, "SpooledTemporaryFile", recording)
    return created


def test_extract_zip_closes_every_file_when_a_later_member_fails(spooled):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.pdf", os.urandom(200_000))
        zf.writestr("b.pdf", b"b")
        with zf.open("c.bin", "w") as member:
            for _ in range(5):
                member.write(bytes(MiB))
    buffer.seek(0)
    assert refused(buffer).code == "zip_bomb"
    assert len(spooled) == 3
    assert all(f.closed for f in spooled)


def test_iter_zip_closes_the_file_it_was_writing(spooled):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("c.bin", "w") as member:
        for _ in range(5):
            member.write(bytes(MiB))
    buffer.seek(0)
    with pytest.raises(ApplicationError):
        next(iter_zip(buffer, limits=LIMITS))
    assert len(spooled) == 1
    assert spooled[0].closed
