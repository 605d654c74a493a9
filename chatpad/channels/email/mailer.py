"""Credentials for an inbox, and sending a reply: SMTP first, then a copy in the Sent folder."""

from __future__ import annotations

import base64
import logging
from typing import TYPE_CHECKING, Any

from chatpad.channels.errors import AuthExpiredError, TransientSendError

from . import oauth
from .imap import ImapSession
from .settings import MailSettings
from .smtp import send_mime
from .transport import MailError

if TYPE_CHECKING:
    from chatpad.models import SocialAccount

log = logging.getLogger("chatpad.email")


def inbox_settings(account: SocialAccount) -> MailSettings:
    return MailSettings.from_meta(account.account_id, account.meta)


def credentials(account: SocialAccount) -> tuple[MailSettings, str]:
    """The inbox's settings and its secret: the app password, or a fresh OAuth access token (refreshed if needed).

    Raises oauth.OAuthGrantError when the inbox must be reconnected, oauth.OAuthTemporaryError when the provider's
    token endpoint is down."""
    settings = inbox_settings(account)
    if settings.auth == "oauth":
        return settings, oauth.access_token(account)
    return settings, account.access_token or ""


def send_reply(account: SocialAccount, payload: dict[str, Any]) -> str:
    """Send one formatted reply (adapter.format's payload). Returns its Message-ID (without brackets)."""
    try:
        settings, secret = credentials(account)
    except oauth.OAuthGrantError as exc:
        raise AuthExpiredError(str(exc)) from exc
    except oauth.OAuthTemporaryError as exc:
        raise TransientSendError(str(exc)) from exc
    raw = base64.b64decode(payload["mime"])
    send_mime(settings, secret, raw, account.account_id, list(payload["to"]))
    if settings.should_append_sent:
        # Best effort: the customer has the reply already; a missing Sent copy must not make us send it twice.
        try:
            with ImapSession(settings, secret) as imap:
                imap.append(imap.sent_folder(), raw)
        except MailError as exc:
            log.warning(
                "reply %s sent, but not filed in Sent of %s: %s", payload["message_id"], account.account_id, exc
            )
    return payload["message_id"]
