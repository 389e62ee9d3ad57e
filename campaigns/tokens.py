"""Link tokens: 256 random bits, URL-safe. Only their SHA-256 is stored, and lookups go by that
hash, so a database read never compares a secret byte by byte."""

from __future__ import annotations

import hashlib
import secrets


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh (token, hash) pair."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)
