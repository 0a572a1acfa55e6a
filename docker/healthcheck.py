"""Container health check: GET http://127.0.0.1:8000/healthz (database, broker, storage).

Standard library only (no curl in the image). Exit 0 when /healthz answers 200, 1 otherwise.
The Host header is the first entry of ALLOWED_HOSTS, so Django's host validation accepts the
request; X-Forwarded-Proto tells Django the probe is as good as HTTPS (it never leaves the
container), so no redirect is involved whatever SECURE_SSL_REDIRECT says.
"""

import os
import sys
import urllib.error
import urllib.request

URL = "http://127.0.0.1:8000/healthz"


def probe_host() -> str:
    for entry in os.environ.get("ALLOWED_HOSTS", "").split(","):
        entry = entry.strip()
        if entry and entry != "*":
            # ".example.fr" allows example.fr and its subdomains.
            return entry.lstrip(".")
    return "localhost"


def main() -> int:
    request = urllib.request.Request(
        URL, headers={"Host": probe_host(), "X-Forwarded-Proto": "https", "User-Agent": "healthcheck"}
    )
    try:
        with urllib.request.urlopen(request, timeout=8) as response:  # noqa: S310
            body = response.read(2000).decode("utf-8", "replace")
            status = response.status
    except urllib.error.HTTPError as exc:
        body = exc.read(2000).decode("utf-8", "replace")
        status = exc.code
    except OSError as exc:
        print(f"healthz unreachable: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    print(f"{status} {body}")  # noqa: T201  shown by `docker inspect`
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
