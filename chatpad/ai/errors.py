"""The one error the AI raises to its callers."""

from __future__ import annotations


class AIError(Exception):
    """The provider could not produce a reply (after its own retries).

    The reply job retries on it and finally hands the conversation to a person. ``permanent`` says retrying will not
    help (bad credentials, unknown model or provider); ``retry_after`` is the provider's own hint, in seconds.
    The message is safe to show an admin: it never contains the API key.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        status: int | None = None,
        retry_after: float | None = None,
        provider: str | None = None,
    ):
        super().__init__(message)
        self.permanent = permanent
        self.status = status
        self.retry_after = retry_after
        self.provider = provider
