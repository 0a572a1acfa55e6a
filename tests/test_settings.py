"""Production settings: refuse to start half-configured, and pass Django's deploy checks."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    # The browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in their process; production never has it.
    unset = {"SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    base = {k: v for k, v in os.environ.items() if k not in unset}
    base.update(env, DJANGO_SETTINGS_MODULE="config.settings.production")
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=base, capture_output=True, text=True, timeout=120
    )


def test_production_refuses_to_start_without_secret_key():
    result = run(["manage.py", "check"], ALLOWED_HOSTS="marches.example.fr")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_to_start_without_allowed_hosts():
    result = run(["manage.py", "check"], SECRET_KEY=secrets.token_urlsafe(50))
    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr


def test_check_deploy_is_clean():
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="marches.example.fr",
        TSA_URL="https://tsa.example.eu/tsp",
        TSA_CA_BUNDLE="/etc/ssl/tsa-ca.pem",
        PREUVES_WITNESSES=_witness_vkey(),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def _witness_vkey() -> str:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from preuves import verifier

    return verifier.Witness("temoin.example.fr", Ed25519PrivateKey.generate().public_key()).vkey


def test_check_deploy_asks_for_witnesses_and_refuses_malformed_keys():
    common = {"SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "marches.example.fr"}
    result = run(["manage.py", "check", "--deploy"], **common)
    assert "preuves.W002" in result.stderr + result.stdout
    vkey = _witness_vkey()
    broken = vkey[:-4] + ("AAAA" if not vkey.endswith("AAAA") else "BBBB")
    result = run(["manage.py", "check"], **common, PREUVES_WITNESSES=f"{vkey},{broken}")
    assert result.returncode != 0
    assert "preuves.E002" in result.stderr + result.stdout
    assert "PREUVES_WITNESSES" in result.stderr + result.stdout


def test_check_deploy_warns_about_the_embedded_tsa():
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="marches.example.fr",
    )
    assert result.returncode != 0
    assert "preuves.W001" in result.stderr + result.stdout


def test_s3_storage_is_selected_by_one_variable():
    code = (
        "import django; django.setup(); from django.core.files.storage import storages; "
        "s = storages['default']; "
        "print(type(s).__name__, s.bucket_name, s.endpoint_url)"
    )
    result = run(
        ["-c", code],
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="x",
        STORAGE_BACKEND="s3",
        AWS_STORAGE_BUCKET_NAME="plis",
        AWS_S3_ENDPOINT_URL="http://127.0.0.1:9000",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["S3Storage", "plis", "http://127.0.0.1:9000"]
