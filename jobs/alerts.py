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
