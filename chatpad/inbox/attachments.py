"""/attachments/<id>: a stored attachment (email today, any channel's stored media), as a download for the
organization that received it."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, send_file
from flask_login import current_user, login_required

from chatpad.extensions import db
from chatpad.html import safe_download_name
from chatpad.models import Attachment, Conversation, Message

bp = Blueprint("attachments", __name__, url_prefix="/attachments")


@bp.get("/<int:attachment_id>")
@login_required
def download(attachment_id: int):
    """A stored attachment, for users of the organization that received it. Always a download (never rendered
    inline: an attached HTML file must not run in our origin)."""
    row = db.session.get(Attachment, attachment_id)
    message = db.session.get(Message, row.message_id) if row is not None else None
    conversation = db.session.get(Conversation, message.conversation_id) if message is not None else None
    if conversation is None or conversation.organization_id != current_user.organization_id:
        abort(404)
    root = Path(current_app.config["ATTACHMENT_DIR"]).resolve()
    path = (root / row.storage_key).resolve()
    if root not in path.parents or not path.is_file():
        abort(404)
    return send_file(
        path, mimetype=row.content_type, as_attachment=True, download_name=safe_download_name(row.filename), max_age=0
    )
