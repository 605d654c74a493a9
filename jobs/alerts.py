"""Alert emails to the team (reconnections, handoffs, assignments), one per person, sent through ALERT_SMTP_URL."""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from sqlalchemy import select

from jobs import app_context

log = logging.getLogger("chatpad.jobs.alerts")


def email_notification(notification_id: int) -> int:
    """Email a notification to the person it is for, if they still want alert emails; returns how many (0 or 1)."""
    from flask import current_app

    from chatpad.extensions import db
    from chatpad.models import Notification, User

    with app_context():
        notification = db.session.get(Notification, notification_id)
        url = current_app.config.get("ALERT_SMTP_URL")
        if notification is None or not url:
            return 0
        query = select(User.email).where(
            User.id == notification.user_id, User.active.is_(True), User.notify_email.is_(True)
        )
        recipients = list(db.session.scalars(query))
        if not recipients:
            return 0
        msg = EmailMessage()
        msg["From"] = current_app.config["ALERT_FROM"]
        msg["To"] = ", ".join(recipients)
        msg["Subject"] = f"[ChatPad] {notification.title}"
        link = current_app.config.get("PUBLIC_URL") or ""
        msg.set_content(f"{notification.body or notification.title}\n\n{link}/admin/\n")
        send_mail(url, msg)
        return len(recipients)


def email_invitation(invitation_id: int) -> int:
    """Mail an invitation to the address it is for (issue 16 item 8); returns how many mails went (0 or 1).

    The link's token is drawn here and only its hash stored, so nothing but this mail holds it (a retry draws a new
    one: the earlier link stops working). An address that already has a ChatPad account gets no link, only a
    note saying so: the admin who invited it is told nothing about the address either way."""
    import secrets

    from flask import current_app
    from sqlalchemy import func

    from chatpad.extensions import db
    from chatpad.models import Invitation, User, utcnow
    from chatpad.models.org import invitation_token_hash

    with app_context():
        invitation = db.session.get(Invitation, invitation_id)
        url = current_app.config.get("ALERT_SMTP_URL")
        if invitation is None or not url or invitation.accepted_at is not None or invitation.expires_at <= utcnow():
            return 0
        org = invitation.organization.name
        taken = db.session.scalar(select(User.id).where(func.lower(User.email) == invitation.email))
        msg = EmailMessage()
        msg["From"] = current_app.config["ALERT_FROM"]
        msg["To"] = invitation.email
        msg["Subject"] = f"[ChatPad] You are invited to {org}"
        if taken:
            body = (
                f"Someone at {org} invited this address to their team on ChatPad, but this address already has a "
                "ChatPad account, and an address can belong to one organization only.\n\n"
                f"If you want to join {org}, ask them to invite another of your addresses. If you did not expect "
                "this, you can ignore this email."
            )
        else:
            token = secrets.token_urlsafe(32)
            invitation.token_hash = invitation_token_hash(token)
            link = f"{(current_app.config.get('PUBLIC_URL') or '').rstrip('/')}/invite/{token}"
            body = (
                f"Someone at {org} invited you to their team on ChatPad as {invitation.role}.\n\n"
                f"Choose your password here (the link works once, until {invitation.expires_at:%Y-%m-%d %H:%M} UTC):"
                f"\n\n{link}\n\nIf you did not expect this, you can ignore this email."
            )
        msg.set_content(body)
        db.session.commit()  # the token's hash is stored before the link leaves
        send_mail(url, msg)
        invitation.sent_at = utcnow()
        db.session.commit()
        return 1


def send_mail(url: str, msg: EmailMessage, timeout: float = 20) -> None:
    """Send through smtp://user:pass@host:port (STARTTLS when offered) or smtps:// (implicit TLS)."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    context = ssl.create_default_context()
    if parts.scheme == "smtps":
        server: smtplib.SMTP = smtplib.SMTP_SSL(host, parts.port or 465, timeout=timeout, context=context)
    else:
        server = smtplib.SMTP(host, parts.port or 587, timeout=timeout)
    with server:
        server.ehlo()
        if parts.scheme != "smtps" and server.has_extn("starttls"):
            server.starttls(context=context)
            server.ehlo()
        if parts.username:
            server.login(unquote(parts.username), unquote(parts.password or ""))
        server.send_message(msg)
