"""A SHA-256 whose state can be saved between requests, so that a file uploaded in chunks —
each chunk possibly received by another web process — is hashed once, as it streams, and
never read back.

`hashlib` cannot export its state. OpenSSL's SHA256_CTX can: it is a public, fixed-layout
structure of 112 bytes (openssl/sha.h: eight 32-bit words of state, the 64-bit length in two
words, the 64-byte pending block, two counters), filled by SHA256_Init / SHA256_Update and
closed by SHA256_Final, all exported by the libcrypto that Python's own hashlib uses. These
functions are deprecated in OpenSSL 3 (still built by Debian and by the Python images) in
favour of EVP, whose contexts are opaque.

`AVAILABLE` is true only if that library loads *and* a self-check at import gives hashlib's
digests through saved and restored states. Otherwise callers fall back to reading the file
back at its completion (offres/deposits.py): the result is the same digest either way.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import logging

logger = logging.getLogger(__name__)

STATE_BYTES = 112
_State = ctypes.c_ubyte * STATE_BYTES


def _load():
    name = ctypes.util.find_library("crypto")
    if name is None:
        return None
    try:
        library = ctypes.CDLL(name)
        functions = (library.SHA256_Init, library.SHA256_Update, library.SHA256_Final)
    except (OSError, AttributeError):
        return None
    init, update, final = functions
    init.argtypes = [ctypes.c_void_p]
    update.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    final.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    for function in functions:
        function.restype = ctypes.c_int
    return library


_LIBRARY = _load()


class ResumableSha256:
    """`ResumableSha256(state)` resumes where `.state()` was saved (a fresh hash without)."""

    def __init__(self, state: bytes | None = None) -> None:
        if state is None:
            self._context = _State()
            if _LIBRARY.SHA256_Init(ctypes.byref(self._context)) != 1:
                raise RuntimeError("SHA256_Init a échoué")
        else:
            if len(state) != STATE_BYTES:
                raise ValueError(f"état SHA-256 de {len(state)} octets, {STATE_BYTES} attendus")
            self._context = _State.from_buffer_copy(bytes(state))

    def update(self, data: bytes) -> None:
        data = bytes(data)
        if data and _LIBRARY.SHA256_Update(ctypes.byref(self._context), data, len(data)) != 1:
            raise RuntimeError("SHA256_Update a échoué")

    def state(self) -> bytes:
        return bytes(self._context)

    def hexdigest(self) -> str:
        """The digest of everything so far (the saved state is left as it was)."""
        context = _State.from_buffer_copy(bytes(self._context))
        digest = (ctypes.c_ubyte * 32)()
        if _LIBRARY.SHA256_Final(digest, ctypes.byref(context)) != 1:
            raise RuntimeError("SHA256_Final a échoué")
        return bytes(digest).hex()


def _self_check() -> bool:
    if _LIBRARY is None:
        return False
    sample = bytes(range(256)) * 1031  # not a multiple of the 64-byte block
    try:
        for cut in (0, 1, 63, 64, 65, 4096, len(sample) - 1, len(sample)):
            first = ResumableSha256()
            first.update(sample[:cut])
            second = ResumableSha256(first.state())
            second.update(sample[cut:])
            if second.hexdigest() != hashlib.sha256(sample).hexdigest():
                return False
        return ResumableSha256().hexdigest() == hashlib.sha256(b"").hexdigest()
    except (RuntimeError, ValueError, OSError):
        return False


AVAILABLE = _self_check()
if not AVAILABLE:
    logger.warning(
        "SHA-256 à état sauvegardable indisponible (libcrypto) : chaque fichier de pli sera relu "
        "en entier à la fin de son envoi pour son empreinte."
    )
