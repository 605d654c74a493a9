"""Sandbox pages for mail: write to a demo inbox as a customer, read the replies that come back, answer them."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, formataddr, make_msgid

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

bp = Blueprint("sandbox_mail", __name__, url_prefix="/mail")

DEFAULT_CUSTOMER = ("Pat Customer", "pat.customer@example.net")


def demo_addresses() -> list[str]:
    from chatpad import demo_data

    return [loc.email for loc in demo_data.LOCATIONS] + [demo_data.GENERAL_INBOX]


def _store():
    store = current_app.extensions.get("sandbox.mail_store")
    if store is None:
        abort(503, "The sandbox mail server is not running in this process (SANDBOX_MAIL_ENABLED).")
    return store


def _summary(uid: int, raw: bytes) -> dict:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    body = msg.get_body(preferencelist=("plain", "html"))
    text = body.get_content() if body is not None else ""
    return {
        "uid": uid,
        "from": str(msg.get("from", "")),
        "to": str(msg.get("to", "")),
        "subject": str(msg.get("subject", "")),
        "date": str(msg.get("date", "")),
        "message_id": str(msg.get("message-id", "")),
        "references": str(msg.get("references", "")),
        "text": text,
        "html": body.get_content_type() == "text/html" if body is not None else False,
    }


@bp.get("/")
def index():
    store = current_app.extensions.get("sandbox.mail_store")
    return render_template(
        "sandbox/mail_index.html",
        running=store is not None,
        inboxes=demo_addresses(),
        mailboxes=store.addresses() if store else [],
        customer=request.args.get("as", DEFAULT_CUSTOMER[1]),
        config=current_app.config,
    )


@bp.get("/box/<address>")
def mailbox(address: str):
    store = _store()
    folder_name = request.args.get("folder", "INBOX")
    folder = store.folder(address, folder_name)
    messages = [_summary(m.uid, m.raw) for m in reversed(folder.sorted())] if folder else []
    return render_template(
        "sandbox/mail_box.html", address=address, folder=folder_name, messages=messages, inboxes=demo_addresses()
    )


@bp.post("/send")
def send():
    """Deliver a customer's mail straight into a demo inbox, as the business's MX would."""
    store = _store()
    form = request.form
    sender = (form.get("from") or DEFAULT_CUSTOMER[1]).strip().lower()
    to = (form.get("to") or "").strip().lower()
    if "@" not in sender or "@" not in to:
        abort(400, "from and to must be email addresses")
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = formataddr((form.get("name") or "", sender))
    msg["To"] = to
    msg["Subject"] = form.get("subject") or "(no subject)"
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    if form.get("in_reply_to"):
        msg["In-Reply-To"] = form["in_reply_to"]
        msg["References"] = " ".join(filter(None, [form.get("references", ""), form["in_reply_to"]])).strip()
    body = form.get("body") or ""
    if form.get("quote"):
        body += "\n\n" + "\n".join("> " + line for line in form["quote"].splitlines())
    msg.set_content(body)
    if form.get("html"):
        msg.add_alternative("<p>" + html.escape(body).replace("\n", "<br>") + "</p>", subtype="html")
    raw = f"Return-Path: <{sender}>\r\n".encode() + msg.as_bytes()
    store.append(to, "INBOX", raw)
    return redirect(url_for("sandbox_mail.mailbox", address=sender, sent=to))
