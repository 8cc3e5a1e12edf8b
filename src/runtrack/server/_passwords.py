"""Password hashes: scrypt (standard library) with a random salt per hash.

A hash is stored as ``scrypt$<n>$<r>$<p>$<salt>$<key>`` (salt and key base64), so the cost
can be raised later without invalidating the hashes already stored: verification reads the
parameters from the hash. ``n=2**15, r=8, p=1`` takes 32 MiB and ~50-100 ms per hash,
OWASP's recommended minimum for scrypt. Verification compares in constant time, and
:func:`verify_nothing` spends the same time when there is no hash to check (an unknown
user), so a sign-in's timing does not tell whether the user exists.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from ..errors import ValidationError

N, R, P = 2**15, 8, 1
_SALT_BYTES = 16
_KEY_BYTES = 32
_MAXMEM = 256 * 1024 * 1024
MIN_CHARS = 8
MAX_CHARS = 1024  # scrypt hashes any length; this only bounds the request


def check_password(password: object) -> str:
    if not isinstance(password, str) or not MIN_CHARS <= len(password) <= MAX_CHARS:
        raise ValidationError(
            f"a password must be a string of {MIN_CHARS} to {MAX_CHARS} characters"
        )
    return password


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=_KEY_BYTES
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    check_password(password)
    salt = secrets.token_bytes(_SALT_BYTES)
    key = _derive(password, salt, N, R, P)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``; False for a malformed hash or a password
    outside the accepted lengths (checked before any hashing work)."""
    if not isinstance(password, str) or len(password) > MAX_CHARS:
        return False
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key, validate=True)
        actual = _derive(password, base64.b64decode(salt, validate=True), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


_DUMMY = f"scrypt${N}${R}${P}${_b64(b'0' * _SALT_BYTES)}${_b64(b'0' * _KEY_BYTES)}"


def verify_nothing(password: str) -> bool:
    """Spend the time of a verification and fail (for a user without a password hash)."""
    verify_password(password, _DUMMY)
    return False
