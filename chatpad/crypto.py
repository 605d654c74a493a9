"""Encryption of platform tokens at rest.

MultiFernet over TOKEN_ENCRYPTION_KEYS (comma-separated, newest first): the first key encrypts, every key decrypts,
so a new key can be put in front and `flask chatpad rotate-keys` re-encrypts the rows under it before old keys are
dropped. Columns typed EncryptedText hold only Fernet tokens in the database; Python code sees plaintext.
"""

from __future__ import annotations

import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from sqlalchemy.types import Text, TypeDecorator

DECRYPTED_CACHE_SIZE = 4096  # column values: one or two tokens per connected account


class TokenCipher:
    """Encrypts and decrypts secrets with a list of Fernet keys (newest first)."""

    def __init__(self, keys: list[str]):
        if not keys:
            raise ValueError("at least one encryption key is required")
        self._fernets = [Fernet(k.encode() if isinstance(k, str) else k) for k in keys]
        self._multi = MultiFernet(self._fernets)
        multi = self._multi

        @functools.lru_cache(maxsize=DECRYPTED_CACHE_SIZE)
        def decrypt_column(token: str) -> str:
            return multi.decrypt(token.encode()).decode()

        # Every routed webhook and every reply loads its account, and with it the token: EncryptedText columns are
        # decrypted once per process (the same ciphertext always gives the same text; no TTL is used). The plaintext
        # stays in this process's memory, as the loaded accounts' tokens do. Other secrets (a connection flow's
        # tokens) use decrypt() and are not kept.
        self.decrypt_column = decrypt_column

    @classmethod
    def from_config(cls, value: str) -> TokenCipher:
        """Build from the TOKEN_ENCRYPTION_KEYS setting."""
        return cls([k.strip() for k in value.split(",") if k.strip()])

    def encrypt(self, plaintext: str) -> str:
        return self._multi.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        return self._multi.decrypt(token.encode()).decode()

    def rotate(self, token: str) -> str:
        """Re-encrypt a token under the newest key."""
        return self._multi.rotate(token.encode()).decode()

    def is_current(self, token: str) -> bool:
        """True when the token is already encrypted under the newest key."""
        try:
            self._fernets[0].decrypt(token.encode())
        except InvalidToken:
            return False
        return True


def get_cipher() -> TokenCipher:
    """The cipher of the current app."""
    return current_app.extensions["chatpad.cipher"]


class EncryptedText(TypeDecorator):
    """A text column stored as a Fernet token; None stays None."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return get_cipher().encrypt(value)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return get_cipher().decrypt_column(value)
