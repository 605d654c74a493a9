"""Forgot-password mail (issue 22), sent through ALERT_SMTP_URL like every other mail to people."""

from __future__ import annotations

import logging
from email.message import EmailMessage

from jobs import app_context
from jobs.alerts import send_mail

log = logging.getLogger("chatpad.jobs.passwords")


def email_password_reset(email: str) -> int:
    """Mail a reset link to the active user with this address, if there is one; returns how many mails went (0 or 1).

    The sign-in page answered the same either way; the log says only whether a mail went, never the link."""
    from flask import current_app
    from sqlalchemy import func, select

    from chatpad.auth.reset import minutes_valid, reset_token
    from chatpad.extensions import db
    from chatpad.models import User

    with app_context():
        url = current_app.config.get("ALERT_SMTP_URL")
        user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
        if url is None or user is None or not user.active:
            log.info("password reset requested: no mail sent (%s)", "no ALERT_SMTP_URL" if not url else "no account")
            return 0
        link = f"{(current_app.config.get('PUBLIC_URL') or '').rstrip('/')}/reset/{reset_token(user)}"
        msg = EmailMessage()
        msg["From"] = current_app.config["ALERT_FROM"]
        msg["To"] = user.email
        msg["Subject"] = "[ChatPad] Set a new password"
        msg.set_content(
            "Someone asked to set a new password for this address on ChatPad.\n\n"
            f"Choose a new password here (the link works once, for {minutes_valid()} minutes):\n\n{link}\n\n"
            "If it was not you, ignore this email: your password stays as it is."
        )
        send_mail(url, msg)
        log.info("password reset mail sent to user %s", user.id)
        return 1
