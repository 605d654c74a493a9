"""Errors every channel raises, so the webhook views and the jobs treat them one way."""

from __future__ import annotations

import email.errors
from collections.abc import Iterator
from contextlib import contextmanager


class ChannelError(Exception):
    """Base of every channel error."""


class SignatureError(ChannelError):
    """The request is not signed by the platform: 403, nothing stored."""


class AnomalousPayloadError(ChannelError):
    """The body is not what the platform sends (not JSON, wrong object): 400."""


class UnsupportedEventError(ChannelError):
    """A well-formed event we do not handle: logged on chatpad.webhooks.unsupported, acknowledged with 200."""


class SendError(ChannelError):
    """A send failed. code/subcode are the platform's, reason is shown to the admin."""

    def __init__(self, reason: str, *, code: int | str | None = None, subcode: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.subcode = subcode


class TransientSendError(SendError):
    """Worth retrying with backoff: timeouts, 5xx, 429, rate-limit codes."""

    def __init__(self, reason: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(reason, **kwargs)
        self.retry_after = retry_after


class PermanentSendError(SendError):
    """Retrying will not help: the message is marked failed with the reason."""


class WindowClosedError(PermanentSendError):
    """Outside the platform's messaging window (24 h, or 7 days with HUMAN_AGENT)."""


class AuthExpiredError(SendError):
    """The account's token is dead: mark it needs_reauth, alert the admins, keep the message for later."""


class RecipientOptedOutError(PermanentSendError):
    """The customer told this number to stop (SMS STOP; Twilio's 21610): the identity is marked opted out, and
    nothing more is sent to them from it until they opt back in."""


# A message that cannot be built (a header holding CR/LF, an address that is not one, text a charset cannot encode)
# fails the same way every time it is tried: these errors, raised while formatting or handing a message over, are
# permanent. ValueError covers UnicodeError and the email package's header checks; MessageError its parse errors.
UNSENDABLE_ERRORS: tuple[type[Exception], ...] = (ValueError, email.errors.MessageError)


@contextmanager
def unsendable_is_permanent(what: str) -> Iterator[None]:
    """Inside the block, an error of UNSENDABLE_ERRORS becomes a PermanentSendError whose reason starts with ``what``
    (the channel's own send errors pass through unchanged). Channel.prepare and Channel.deliver use it, so every
    adapter signals "this can never be sent" one way and the pipeline marks the message failed instead of retrying."""
    try:
        yield
    except SendError:
        raise
    except UNSENDABLE_ERRORS as exc:
        detail = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise PermanentSendError(f"{what}: {detail}") from exc
