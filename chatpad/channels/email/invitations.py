"""Tour emails from a location's inbox: the .ics invitation (iTIP REQUEST or CANCEL) and reminders.

An iTIP message is a text/calendar part whose `method` parameter equals the VCALENDAR's METHOD, beside a plain-text
body for people (calendar-reference.md §3); the same calendar rides along as an invite.ics attachment for mail
clients that only show attachments. Sent over the inbox's own SMTP (its app password or OAuth token), like a reply.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import TYPE_CHECKING

from chatpad.channels.errors import AuthExpiredError, TransientSendError

from . import oauth
from .mailer import credentials
from .smtp import send_mime

if TYPE_CHECKING:
    from chatpad.models import SocialAccount


def build_message(
    *, from_addr: str, from_name: str | None, to: str, subject: str, text: str, ics: bytes | None, method: str | None
) -> EmailMessage:
    """The email: text, plus the calendar as an iTIP part and an attachment when there is one."""
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = formataddr((from_name, from_addr)) if from_name else from_addr
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    domain = from_addr.rpartition("@")[2] or "chatpad.invalid"
    msg["Message-ID"] = f"<tour-{uuid.uuid4().hex}@{domain}>"
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: not a person's message, no out-of-office answers
    msg.set_content(text)
    if ics is not None and method:
        msg.add_alternative(ics, maintype="text", subtype="calendar", params={"method": method, "charset": "utf-8"})
        msg.add_attachment(ics, maintype="application", subtype="ics", filename="invite.ics")
    return msg


def send_tour_email(account: SocialAccount, message: EmailMessage) -> str:
    """Send from the inbox over its SMTP. Returns the Message-ID. Raises the channel's send errors."""
    try:
        settings, secret = credentials(account)
    except oauth.OAuthGrantError as exc:
        raise AuthExpiredError(str(exc)) from exc
    except oauth.OAuthTemporaryError as exc:
        raise TransientSendError(str(exc)) from exc
    send_mime(settings, secret, message.as_bytes(), account.account_id, [message["To"]])
    return str(message["Message-ID"]).strip("<>")
