"""Malicious and broken inputs are refused early, by design, with a French message and a line."""

from pathlib import Path

import pytest

import dume
from dume import safe
from dume.errors import DumeError, NotEspdError, UnknownVersionError, UnsafeXmlError

from .conftest import STANDARDS

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<QualificationApplicationResponse xmlns="urn:oasis:names:specification:ubl:schema:xsd:QualificationApplicationResponse-2">&xxe;</QualificationApplicationResponse>"""

LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        f' <!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">\n'.encode()
        for i in range(1, 10)
    )
    + b"]>\n<lolz>&lol9;</lolz>"
)


def test_xxe_is_refused_before_parsing():
    with pytest.raises(UnsafeXmlError) as info:
        dume.read(XXE)
    assert "DOCTYPE" in str(info.value)
    assert info.value.issues[0].line == 2
    assert "passwd" not in str(info.value)


def test_billion_laughs_is_refused():
    with pytest.raises(UnsafeXmlError) as info:
        dume.read(LAUGHS)
    assert "entités" in str(info.value)


def test_doctype_in_utf16_is_refused():
    with pytest.raises(UnsafeXmlError):
        dume.read(XXE.replace(b'<?xml version="1.0"?>', b"").decode().encode("utf-16"))


def test_a_200_mb_file_is_refused_from_its_size_without_reading_it(tmp_path, monkeypatch):
    path = tmp_path / "enorme.xml"
    with path.open("wb") as stream:
        stream.truncate(200 * 1024 * 1024)  # sparse: 200 MB that take no disk and no reading
    opened = []
    real_open = Path.open

    def spy(self, *args, **kwargs):
        opened.append(self)
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", spy)
    with pytest.raises(UnsafeXmlError) as info:
        dume.read(path)
    assert "trop volumineux (200.0 Mio)" in str(info.value)
    assert opened == [], "the file must be refused from its size, never opened"


def test_a_file_under_the_limit_is_opened_and_read(tmp_path, monkeypatch):
    # The spy above can see an open: a readable file goes through it.
    path = tmp_path / "dume.xml"
    path.write_bytes((STANDARDS / "edm-2.1.1/xml/BASIC-ESPDRequest-2.1.1.xml").read_bytes())
    opened = []
    real_open = Path.open
    monkeypatch.setattr(Path, "open", lambda self, *a, **k: opened.append(self) or real_open(self, *a, **k))
    assert dume.read(path).version == "2.1.1"
    assert opened == [path]


def test_other_encodings_are_read():
    data = (STANDARDS / "edm-2.1.1/xml/BASIC-ESPDRequest-2.1.1.xml").read_bytes()
    utf16 = data.decode("utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"', 1).encode("utf-16")
    assert dume.read(utf16).contract_folder_id == "PP.20170419.1024-9"
    latin1 = (
        b'<?xml version="1.0" encoding="ISO-8859-1"?>\n'
        b'<QualificationApplicationRequest xmlns="urn:oasis:names:specification:ubl:schema:xsd:QualificationApplicationRequest-2" '
        b'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">'
        b"<cbc:UBLVersionID>2.2</cbc:UBLVersionID><cbc:ContractFolderID>March\xe9 2026</cbc:ContractFolderID>"
        b"</QualificationApplicationRequest>"
    )
    assert dume.read(latin1).contract_folder_id == "Marché 2026"


def test_an_oversized_stream_is_read_no_further_than_the_limit():
    class Endless:
        read_sizes: list[int] = []

        def read(self, size=-1):
            self.read_sizes.append(size)
            return b"<" * size

    stream = Endless()
    with pytest.raises(UnsafeXmlError, match=r"trop volumineux \(plus de 20\.0 Mio\)"):
        dume.read(stream)
    assert stream.read_sizes == [safe.MAX_BYTES + 1]


def test_deep_nesting_is_refused_with_its_line():
    deep = b"<a>\n" * 300 + b"</a>" * 300
    with pytest.raises(DumeError) as info:
        dume.read(deep)
    assert "imbrication trop profonde" in str(info.value)
    assert info.value.issues[0].line == 257


def test_broken_utf8_is_refused_with_its_line():
    data = b'<?xml version="1.0" encoding="UTF-8"?>\n<a>\n<b>caf\xe9</b></a>'
    with pytest.raises(DumeError) as info:
        dume.read(data)
    assert "octets invalides pour l'encodage" in str(info.value)
    assert info.value.issues[0].line == 3


def test_unknown_declared_encoding_is_refused():
    with pytest.raises(DumeError) as info:
        dume.read(b'<?xml version="1.0" encoding="klingon"?>\n<a/>')
    assert "XML mal formé" in str(info.value)


def test_truncated_xml_is_refused_in_french():
    data = (STANDARDS / "edm-2.1.1/xml/BASIC-ESPDResponse-2.1.1.xml").read_bytes()[:5000]
    with pytest.raises(DumeError) as info:
        dume.read(data)
    assert str(info.value).startswith("ligne ")
    assert "XML mal formé" in str(info.value)


def test_xml_that_is_not_espd_names_its_root():
    with pytest.raises(NotEspdError) as info:
        dume.read(
            b'<?xml version="1.0"?>\n<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>'
        )
    message = str(info.value)
    assert "n'est pas un DUME" in message
    assert "« Invoice »" in message
    assert info.value.issues[0].line == 2


def test_unknown_version_names_it_and_its_line():
    data = (STANDARDS / "edm-4.1.0/xml-examples/ESPD-Response.xml").read_bytes()
    data = data.replace(b">ESPD-EDMv4.1.0<", b">ESPD-EDMv5.0.0<", 1)
    with pytest.raises(UnknownVersionError) as info:
        dume.read(data)
    assert "ESPD-EDMv5.0.0" in str(info.value)
    assert info.value.issues[0].element == "ProfileExecutionID"
    assert info.value.issues[0].line == 6


def test_empty_input_is_refused():
    with pytest.raises(DumeError, match="vide"):
        dume.read(b"  \n")


def test_bad_value_names_line_and_element():
    data = (STANDARDS / "edm-4.1.0/xml-examples/ESPD-Response.xml").read_bytes()
    data = data.replace(b"<cbc:ResponseIndicator>true<", b"<cbc:ResponseIndicator>oui<", 1)
    with pytest.raises(DumeError) as info:
        dume.read(data)
    issue = info.value.issues[0]
    assert issue.element == "ResponseIndicator"
    assert issue.line
    assert issue.line > 7000
    assert "Indicateur invalide « oui »" in str(info.value)


@pytest.mark.parametrize("codec", ["utf-16-be", "utf-16-le", "utf-32", "utf-32-be"])
def test_doctype_in_wide_encodings_is_refused_before_parsing_with_its_line(codec):
    data = XXE.replace(b'<?xml version="1.0"?>', f'<?xml version="1.0" encoding="{codec.upper()}"?>'.encode())
    with pytest.raises(UnsafeXmlError) as info:
        dume.read(data.decode().encode(codec))
    assert info.value.issues[0].line == 2


def test_entities_behind_a_long_prolog_are_refused_unexpanded():
    # The prolog scan stops after 64 KiB: the parser, which substitutes no entity and keeps
    # libxml2's amplification limit (no huge_tree), refuses them; a harmless DOCTYPE is refused
    # after parsing. Bounded by construction: nothing is ever expanded.
    padding = b"<!--" + b"x" * (safe.PROLOG_SCAN + 10) + b"-->\n"
    data = LAUGHS.replace(b'<?xml version="1.0"?>\n', b'<?xml version="1.0"?>\n' + padding)
    with pytest.raises(UnsafeXmlError, match="entités"):
        dume.read(data)
    quiet = b'<?xml version="1.0"?>\n' + padding + b'<!DOCTYPE r [<!ENTITY e "x">]>\n<r/>'
    with pytest.raises(UnsafeXmlError, match="DOCTYPE"):
        dume.read(quiet)


def test_markup_words_in_a_comment_are_not_a_doctype():
    data = (STANDARDS / "edm-2.1.1/xml/BASIC-ESPDRequest-2.1.1.xml").read_bytes()
    data = data.replace(b"?>", b"?>\n<!-- no <!DOCTYPE nor <!ENTITY here -->", 1)
    assert dume.read(data).version == "2.1.1"
