"""Pseudonyms: a salted keyed hash of source ids (HMAC-SHA256, truncated to :data:`HASH_CHARS` hex characters).

The salt lives in a file (created on first use, with a :class:`SaltCreatedWarning`); the same salt gives the
same pseudonyms in every import, another salt unrelated ones.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import warnings
from pathlib import Path

import pandas as pd

from groupstats.errors import ParameterError

#: Hex characters kept from the HMAC-SHA256 digest (64 bits: collisions are negligible).
HASH_CHARS = 16


class SaltCreatedWarning(UserWarning):
    """A new salt file was created: keep it safe, the pseudonyms depend on it."""


def default_salt_file() -> Path:
    """``$GROUPSTATS_SALT_FILE`` or ``~/.config/groupstats/import-salt.key``."""
    env = os.environ.get("GROUPSTATS_SALT_FILE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".config" / "groupstats" / "import-salt.key"


class Pseudonymiser:
    """Salted keyed hash of source ids: ``HMAC-SHA256(salt, kind + ':' + id)`` truncated.

    The same salt file gives the same pseudonym to the same source id in
    every import; another salt gives unrelated pseudonyms. The salt file is
    created (32 random bytes, hex, permissions 0600) on first use, with a
    :class:`SaltCreatedWarning`.
    """

    PREFIX = {"member": "u_", "group": "g_", "message": "msg_", "post": "p_"}

    def __init__(self, salt_file: str | os.PathLike | None = None):
        path = Path(salt_file).expanduser() if salt_file else default_salt_file()
        self.salt_file = path
        self.created = False
        if path.exists():
            text = path.read_text(encoding="utf-8").strip()
            if len(text) < 32:
                raise ParameterError(f"Salt file {path} holds too short a salt (fewer than 32 characters); "
                                     f"point --salt-file at the salt of your earlier imports, or at a new "
                                     f"file to create a fresh salt.")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            text = secrets.token_hex(32)
            path.write_text(text + "\n", encoding="utf-8")
            try:
                os.chmod(path, 0o600)
            except OSError:  # pragma: no cover - e.g. Windows
                pass
            self.created = True
            warnings.warn(f"Created a new salt file {path}. Keep it safe and private: the same salt gives the "
                          f"same pseudonyms in later imports, and anyone holding it can test guesses of ids.",
                          SaltCreatedWarning, stacklevel=2)
        self._key = text.encode("utf-8")
        self._cache: dict[tuple[str, str], str] = {}

    @property
    def fingerprint(self) -> str:
        """A short hash identifying the salt (stored in dataset.json; reveals nothing)."""
        return hmac.new(self._key, b"groupstats-salt-fingerprint", hashlib.sha256).hexdigest()[:12]

    def one(self, kind: str, value: str) -> str:
        key = (kind, value)
        out = self._cache.get(key)
        if out is None:
            digest = hmac.new(self._key, f"{kind}:{value}".encode("utf-8"), hashlib.sha256).hexdigest()
            out = self.PREFIX[kind] + digest[:HASH_CHARS]
            self._cache[key] = out
        return out

    def series(self, kind: str, values: pd.Series) -> pd.Series:
        """Hash a column (missing values stay missing); hashes each distinct value once."""
        values = values.astype("object")
        present = values.notna()
        uniques = pd.unique(values[present])
        mapping = {v: self.one(kind, str(v)) for v in uniques}
        out = values.map(mapping)
        return out.where(present, None).astype("str")
