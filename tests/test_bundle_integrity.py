"""The encryption bundle (static/offres/build/chiffrement.js) is reproducible and is what
the platform serves, announces (Subresource Integrity) and publishes (« Vérifier le code de
chiffrement », docs/chiffrement.md): built again from the sources, here and from a copy in
another folder, with the Makefile's own rule, it gives the same bytes."""

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.urls import reverse

from offres.bundle import BUNDLE, bundle_digest, bundle_path

ROOT = Path(__file__).resolve().parent.parent
ESBUILD = ROOT / "node_modules" / ".bin" / "esbuild"
MAKE = shutil.which("make")
SOURCES = ["Makefile", "package.json", "package-lock.json", "static/offres/src"]


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """The bundle built twice by `make`: in this tree into another file, and in a copy of the
    sources in another folder (as a clean clone would be, sharing only node_modules)."""
    if MAKE is None or not ESBUILD.exists():
        pytest.skip("the bundle's build needs make and `npm ci` (node_modules/.bin/esbuild)")
    if not (ROOT / "static" / BUNDLE).exists():
        pytest.skip("the encryption client is not built: run `make static`")
    here = tmp_path_factory.mktemp("ici") / "chiffrement.js"
    # -o: node_modules is taken as it is (never `npm ci` again from a test).
    subprocess.run(
        [MAKE, "-s", "-o", "node_modules/.installed", f"BUNDLE={here}", str(here)],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    clone = tmp_path_factory.mktemp("clone")
    for name in SOURCES:
        source, target = ROOT / name, clone / name
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, target)
    (clone / "node_modules").symlink_to(ROOT / "node_modules")
    subprocess.run(
        [MAKE, "-s", "-o", "node_modules/.installed", "static"], cwd=clone, check=True, capture_output=True
    )
    return here.read_bytes(), (clone / "static" / BUNDLE).read_bytes(), clone


def test_two_builds_give_the_served_bytes(builds):
    here, elsewhere, clone = builds
    served = bundle_path().read_bytes()
    assert here == elsewhere == served
    # Nothing of the machine in the output: no absolute path (hence no user name), no date.
    for folder in (str(ROOT), str(clone), str(Path.home()), "/home/", "/root/"):
        assert folder.encode() not in here
    assert not re.search(rb"20\d\d-\d\d-\d\dT\d\d:\d\d", here)


def test_the_integrity_announced_and_published_is_the_builds(builds, client, db):
    here, _, _ = builds
    digest = hashlib.sha256(here)
    assert bundle_digest().hex == digest.hexdigest()
    page = client.get(reverse("offres:encryption_code")).content.decode()
    assert digest.hexdigest() in page
    assert bundle_digest().integrity in page
    docs = (ROOT / "docs" / "chiffrement.md").read_text()
    assert f"`{digest.hexdigest()}`" in docs, (
        "docs/chiffrement.md does not publish the bundle's SHA-256: after a change to "
        "static/offres/src/ or package-lock.json, run `make static` and "
        "`sha256sum static/offres/build/chiffrement.js`, and write the new digest there"
    )


def test_the_build_tools_are_pinned():
    """Same bytes on a clean clone needs the same esbuild and the same packages: exact versions
    in package.json, each locked with its integrity in package-lock.json."""
    package = json.loads((ROOT / "package.json").read_text())
    lock = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    for name, version in {**package["dependencies"], **package["devDependencies"]}.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name} {version} is not an exact version"
        assert lock[f"node_modules/{name}"]["version"] == version
    for path, entry in lock.items():
        if path:
            assert entry.get("integrity", "").startswith("sha512-"), path
