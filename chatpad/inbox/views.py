"""The unified inbox and the analytics page, in the admin's look (Flask-Admin views, top menu).

Every query is scoped to the signed-in user's organization: a conversation, contact, attachment or notification of
another organization is a 404, whatever id is typed into the URL. Agents (role "agent") use the inbox; analytics is
for owners and admins. Sending, takeover and notifications go through the shared pipeline (docs/pipeline.md).
"""

from __future__ import annotations

import hashlib
import io
import uuid
from pathlib import Path

from flask import abort, current_app, flash, make_response, redirect, request, send_file, url_for
from flask_admin import BaseView, expose
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import func, select, update
from werkzeug.utils import safe_join

from chatpad import csvfile, streams
from chatpad.admin.views import SecureViewMixin, current_scope
from chatpad.audit import record_audit
from chatpad.channels import CHANNELS, get_channel
from chatpad.contacts import (
    ContactMergeError,
    contact_details,
    get_contact,
    merge_candidates,
    merge_contacts,
    merged_contacts,
    split_contact,
)
from chatpad.extensions import db
from chatpad.http import bounded_int, parse_uuid
from chatpad.messages import OutboundReply
from chatpad.models import (
    Attachment,
    ContactIdentity,
    Conversation,
    ConversationLabel,
    ConversationNote,
    Message,
    Notification,
    Scope,
    SocialAccount,
    User,
    channel_label,
    utcnow,
)
from chatpad.notify import notify_assigned
from chatpad.realtime import conversation_channel, org_channel, publish
from chatpad.team import assignable_users, can_see, touch_seen

from . import analytics
from .canned import canned_for
from .charts import CHANNEL_COLORS, daily_columns, hbar_chart, stacked_share_chart
from .forms import (
    ActionForm,
    AssignForm,
    MergeForm,
    MergeSearchForm,
    NoteForm,
    NotificationSettingsForm,
    ReplyForm,
    TakeOverForm,
)
from .live import event_stream
from .queries import (
    MAX_LABEL,
    NO_LOCATION,
    STATUS_LABELS,
    InboxFilters,
    clean_label,
    filter_choices,
    inbox_page,
    options_html,
    waiting_count,
)
from .templates_reply import TemplateFormError, read_template_form, template_choices
from .thread import build_thread, reply_guide

# At most this many conversations in one bulk action (a page of the list is 50).
MAX_BULK = 200


def _count(n: int) -> str:
    return f"{n} conversation{'' if n == 1 else 's'}"


def _local(url: str | None) -> bool:
    """A path on this site (the list the person came from), never another host."""
    return bool(url) and url.startswith("/admin/inbox") and "//" not in url and "\\" not in url


def _retry_state(conversation: Conversation) -> dict:
    """What a failed message's Retry can do now, per sender: None (it can be re-sent) or the reason it cannot; and
    whether a person's re-send goes with Messenger's HUMAN_AGENT tag (past 24 hours, within 7 days)."""
    adapter = _adapter(conversation.channel)
    state = {"human": "Replies on this channel are not available here.", "ai": None, "human_agent": False}
    state["ai"] = state["human"]
    if adapter is None or conversation.social_account is None:
        return state
    from chatpad.channels.facebook.adapter import STANDARD_WINDOW
    from chatpad.pipeline.replies import send_context

    try:
        state["human"] = adapter.check_window(send_context(conversation, "human"))
        state["ai"] = adapter.check_window(send_context(conversation, "ai"))
    except Exception:  # explaining must never break the thread
        current_app.logger.warning("check_window failed for %s", conversation.id, exc_info=True)
    last = conversation.last_inbound_at
    state["human_agent"] = bool(
        conversation.channel == "facebook" and state["human"] is None and last and utcnow() - last > STANDARD_WINDOW
    )
    return state


# Images the browser may show inline; anything else (SVG included: it can carry script) downloads as a file.
INLINE_IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}


def _org_id() -> int:
    return current_user.organization_id


def _user():
    return current_user._get_current_object()


def _conversation_or_404(conversation_id: uuid.UUID) -> Conversation:
    """The conversation, if the signed-in person may see it (their organization, and their locations when they are
    limited to some); 404 otherwise, whatever id is in the URL."""
    conversation = db.session.scalar(
        select(Conversation).where(Conversation.id == conversation_id, current_scope().where(Conversation))
    )
    if conversation is None:
        abort(404)
    return conversation


def _assign_choices(users) -> list[tuple[str, str]]:
    return [("", "Nobody")] + [(str(u.id), str(u)) for u in users]


def _etag(html: str) -> str:
    return hashlib.sha256(html.encode()).hexdigest()[:32]


def _etag_response(html: str):
    """A partial for live refresh and polling: 304 when the page already has exactly this HTML."""
    etag = _etag(html)
    if request.if_none_match.contains(etag):
        response = make_response("", 304)
    else:
        response = make_response(html)
    response.set_etag(etag)
    response.headers["Cache-Control"] = "no-cache, private"
    return response


def _adapter(channel: str):
    return get_channel(channel) if channel in CHANNELS else None


def _poll_ms() -> int:
    """How often an open page polls when it has no event stream (INBOX_POLL_SECONDS)."""
    return int(current_app.config.get("INBOX_POLL_SECONDS", 10)) * 1000


def _changed(conversation: Conversation, **data) -> None:
    publish(conversation.organization_id, conversation.id, "conversation.updated", data)


class InboxView(SecureViewMixin, BaseView):
    """Conversations from every channel, one list; a conversation's thread; the actions a person takes on it."""

    allowed_roles = ("owner", "admin", "agent")

    def _handle_view(self, name, **kwargs):
        refused = super()._handle_view(name, **kwargs)
        if refused is None:
            touch_seen(current_user._get_current_object())  # online, for automatic assignment (chatpad.team)
        return refused

    # --- the list ---

    @expose("/")
    def index(self):
        filters = InboxFilters.from_args(request.args)
        cursor = request.args.get("after")
        scope = current_scope()
        page = inbox_page(scope, filters, user_id=current_user.id, cursor=cursor)
        rows_html = Markup(self.render("inbox/_rows.html", page=page, filters=filters))  # noqa: S704 (autoescaped)
        if request.args.get("partial"):
            return _etag_response(rows_html)
        if filters.invalid:
            flash(f"Ignored a filter that no longer exists: {', '.join(filters.invalid)}.", "warning")
        choices = filter_choices(scope, filters.location)
        return self.render(
            "inbox/list.html",
            page=page,
            filters=filters,
            choices=choices,
            status_labels=STATUS_LABELS,
            waiting=waiting_count(scope),
            no_location=NO_LOCATION,
            location_options=options_html(choices.locations, filters.location),
            live_url=streams.url(url_for(".events")),
            partial_url=url_for(".index", partial=1, **filters.to_args()),
            rows_html=rows_html,
            rows_etag=_etag(rows_html),
            action_form=ActionForm(),
            poll_ms=_poll_ms(),
        )

    # --- bulk actions on the rows a person ticked ---

    @expose("/bulk", methods=["POST"])
    def bulk(self):
        """Resolve, assign or label the ticked conversations together. Only conversations in the person's scope are
        touched: an id of another organization or location (or no conversation at all) is left alone and counted as
        not found."""
        if not ActionForm().validate_on_submit():
            abort(400)
        back = redirect(request.form.get("next_url") if _local(request.form.get("next_url")) else url_for(".index"))
        wanted = {parse_uuid(v) for v in request.form.getlist("ids")[:MAX_BULK]} - {None}
        action = request.form.get("action")
        if action not in {"resolve", "assign", "label"}:
            abort(400)
        if not wanted:
            flash("Tick the conversations first.", "warning")
            return back
        rows = db.session.scalars(
            select(Conversation).where(Conversation.id.in_(list(wanted)), current_scope().where(Conversation))
        ).all()
        skipped = len(wanted) - len(rows)
        done = 0
        if action == "resolve":
            for conversation in rows:
                if conversation.status != "resolved":
                    previous, conversation.status = conversation.status, "resolved"
                    self._audit(conversation, "conversation.resolve", {"from": previous, "bulk": True})
                    done += 1
            message = f"Resolved {_count(done)}."
        elif action == "assign":
            raw = request.form.get("user") or ""
            assignee = None
            if raw:
                try:
                    wanted_user = bounded_int(raw, low=1, high=2**31)
                except ValueError:
                    abort(400)
                assignee = db.session.scalar(
                    select(User).where(User.id == wanted_user, User.organization_id == _org_id(), User.active)
                )
                if assignee is None:
                    abort(400)
            for conversation in rows:
                if assignee is not None and not can_see(assignee, conversation):
                    skipped += 1  # an on-site manager of another community cannot take it
                    continue
                new_id = assignee.id if assignee is not None else None
                if conversation.assigned_user_id != new_id:
                    conversation.assigned_user_id = new_id
                    if assignee is not None:
                        notify_assigned(conversation, assignee, by=_user())
                    self._audit(conversation, "conversation.assign", {"assigned_user_id": new_id, "bulk": True})
                    done += 1
            message = f"Assigned {_count(done)} to {assignee}." if assignee else f"Unassigned {_count(done)}."
        else:
            name = clean_label(request.form.get("label") or "")
            if not name:
                flash("Write the label to add.", "error")
                return back
            have = set(
                db.session.scalars(
                    select(ConversationLabel.conversation_id).where(
                        ConversationLabel.conversation_id.in_([c.id for c in rows]), ConversationLabel.name == name
                    )
                )
            )
            for conversation in rows:
                if conversation.id not in have:
                    db.session.add(
                        ConversationLabel(
                            conversation_id=conversation.id, name=name, organization_id=conversation.organization_id
                        )
                    )
                    done += 1
            message = f"Labelled {_count(done)} “{name}”."
        db.session.commit()
        for conversation in rows:
            _changed(conversation, status=conversation.status)
        if skipped:
            message += f" {_count(skipped)} left alone (not found, or not for that person)."
        flash(message, "success" if not skipped else "warning")
        return back

    def _audit(self, conversation: Conversation, action: str, detail: dict) -> None:
        record_audit(
            action,
            organization_id=conversation.organization_id,
            user_id=current_user.id,
            target=conversation,
            detail=detail,
            ip=request.remote_addr,
        )

    # --- one conversation ---

    def _thread_html(self, conversation: Conversation, across: bool) -> str:
        """The thread as the page shows it and as its live refresh fetches it (the same HTML, so the same ETag)."""
        items, truncated = build_thread(conversation, across_channels=across, scope=current_scope())
        html = self.render(
            "inbox/_thread.html",
            conversation=conversation,
            items=items,
            truncated=truncated,
            across=across,
            retry=_retry_state(conversation) if any(i.status == "failed" for i in items) else None,
        )
        return Markup(html)  # noqa: S704 (our template, autoescaped)

    def _conversation_context(self, conversation: Conversation, **forms):
        across = request.args.get("only") != "1"
        thread_html = self._thread_html(conversation, across)
        adapter = _adapter(conversation.channel)
        window_reason = None
        if adapter is not None and conversation.social_account is not None:
            from chatpad.pipeline.replies import send_context

            try:
                window_reason = adapter.check_window(send_context(conversation, "human"))
            except Exception:  # explaining the window must never break the page
                current_app.logger.warning("check_window failed for %s", conversation.id, exc_info=True)
        templates = None
        if conversation.channel == "whatsapp" and window_reason:
            templates = template_choices(conversation)  # outside the window the reply box offers only these
        contact = conversation.contact
        scope = current_scope()
        guide = reply_guide(conversation, window_reason=window_reason, adapter=adapter)
        merge_search = MergeSearchForm(request.args)
        users = assignable_users(conversation)
        assign = forms.get("assign_form") or AssignForm()
        assign.user.choices = _assign_choices(users)
        assign.user.data = str(conversation.assigned_user_id or "")
        identities = db.session.scalars(
            select(ContactIdentity)
            .outerjoin(SocialAccount, SocialAccount.id == ContactIdentity.social_account_id)
            .where(ContactIdentity.contact_id == contact.id, scope.locations_where(SocialAccount.location_id))
            .order_by(ContactIdentity.id)
        ).all()
        users_by_id = {u.id: u for u in users}
        for user_id in (conversation.taken_over_by, conversation.assigned_user_id):
            if user_id and user_id not in users_by_id:  # someone who has left, or whose locations changed
                users_by_id[user_id] = db.session.get(User, user_id)
        from chatpad.admin.bookings import card_context, conversation_tours

        return {
            **card_context(),
            "tours": conversation_tours(conversation),
            "conversation": conversation,
            "contact": contact,
            "details": contact_details(contact),
            "identities": identities,
            "merged": merged_contacts(contact),
            "candidates": merge_candidates(contact, merge_search.merge_q.data, scope=scope),
            "merge_search": merge_search,
            "thread_html": thread_html,
            "thread_etag": _etag(thread_html),
            "poll_ms": _poll_ms(),
            "across": across,
            "guide": guide,
            "canned": canned_for(conversation, scope, limit=guide.limit, unit=guide.limit_unit),
            "templates": templates,
            "template_error": forms.get("template_error"),
            "template_values": forms.get("template_values") or {},
            "reply_form": forms.get("reply_form") or ReplyForm(),
            "note_form": forms.get("note_form") or NoteForm(),
            "takeover_form": forms.get("takeover_form") or TakeOverForm(),
            "action_form": ActionForm(),
            "merge_form": MergeForm(),
            "assign_form": assign,
            "taken_over_by": users_by_id.get(conversation.taken_over_by),
            "assigned_to": users_by_id.get(conversation.assigned_user_id),
            "reply_token": uuid.uuid4().hex,
            "live_url": streams.url(url_for(".events", conversation=conversation.id)),
            "thread_url": url_for(".thread", conversation_id=conversation.id, only="1" if not across else None),
            "status_labels": STATUS_LABELS,
            "labels": list(
                db.session.scalars(
                    select(ConversationLabel.name)
                    .where(ConversationLabel.conversation_id == conversation.id)
                    .order_by(ConversationLabel.name)
                )
            ),
            "max_label": MAX_LABEL,
        }

    @expose("/c/<uuid:conversation_id>")
    def conversation(self, conversation_id):
        conversation = _conversation_or_404(conversation_id)
        if conversation.unread_count:
            conversation.unread_count = 0
            db.session.commit()
            _changed(conversation, unread_count=0)
        return self.render("inbox/conversation.html", **self._conversation_context(conversation))

    def _render_conversation(self, conversation, status: int, **forms):
        return self.render("inbox/conversation.html", **self._conversation_context(conversation, **forms)), status

    @expose("/c/<uuid:conversation_id>/thread")
    def thread(self, conversation_id):
        conversation = _conversation_or_404(conversation_id)
        return _etag_response(self._thread_html(conversation, request.args.get("only") != "1"))

    def _back(self, conversation: Conversation):
        return redirect(url_for(".conversation", conversation_id=conversation.id))

    @expose("/c/<uuid:conversation_id>/reply", methods=["POST"])
    def reply(self, conversation_id):
        from chatpad.pipeline import ReplyRefusedError, queue_reply, take_over

        conversation = _conversation_or_404(conversation_id)
        form = ReplyForm()
        if not form.validate_on_submit():
            return self._render_conversation(conversation, 400, reply_form=form)
        if _adapter(conversation.channel) is None:
            form.text.errors = [*form.text.errors, f"Not sent: replies on {conversation.channel} are not available."]
            return self._render_conversation(conversation, 409, reply_form=form)
        token = (request.form.get("reply_token") or "")[:64] or uuid.uuid4().hex
        took_over = False
        if not conversation.human_takeover:
            # A person answering means the AI stops: it would otherwise answer the customer's next message on top.
            take_over(conversation, user=_user(), reason="A person replied from the inbox", commit=False)
            took_over = True
        try:
            rows = queue_reply(
                conversation,
                OutboundReply(form.text.data.strip(), sender_type="human"),
                user=_user(),
                idempotency_key=f"human:{conversation.id}:{token}",
            )
        except ReplyRefusedError as exc:
            db.session.rollback()
            form.text.errors = [*form.text.errors, f"Not sent: {exc}"]
            return self._render_conversation(conversation, 409, reply_form=form)
        if took_over:
            _changed(conversation, human_takeover=True)
        parts = len(rows)
        if rows and rows[0].status == "failed":
            # It can never be sent as written (chatpad.channels.errors.unsendable_is_permanent): say so at once.
            flash(f"Not sent: {rows[0].error}", "error")
            return self._back(conversation)
        flash(
            ("Reply queued" + (f" as {parts} messages" if parts > 1 else ""))
            + ("; you took over this conversation, the AI is paused until you hand it back." if took_over else "."),
            "success",
        )
        return self._back(conversation)

    @expose("/c/<uuid:conversation_id>/template", methods=["POST"])
    def send_template(self, conversation_id):
        """Outside WhatsApp's 24-hour window: send one of the number's approved templates, its variables filled."""
        from chatpad.pipeline import ReplyRefusedError, queue_reply, take_over

        conversation = _conversation_or_404(conversation_id)
        form = ActionForm()
        values = {k: v for k, v in request.form.items() if k == "template_id" or k.startswith("var-")}
        if not form.validate_on_submit():
            return self._render_conversation(conversation, 400, template_error="The form expired: try again.")
        try:
            text, block = read_template_form(conversation, request.form)
        except TemplateFormError as exc:
            return self._render_conversation(conversation, 400, template_error=str(exc), template_values=values)
        token = (request.form.get("reply_token") or "")[:64] or uuid.uuid4().hex
        took_over = False
        if not conversation.human_takeover:
            take_over(conversation, user=_user(), reason="A person sent a template from the inbox", commit=False)
            took_over = True
        try:
            queue_reply(
                conversation,
                OutboundReply(text, sender_type="human", extra={"template": block}),
                user=_user(),
                idempotency_key=f"human:{conversation.id}:{token}",
            )
        except ReplyRefusedError as exc:
            db.session.rollback()
            return self._render_conversation(
                conversation, 409, template_error=f"Not sent: {exc}", template_values=values
            )
        if took_over:
            _changed(conversation, human_takeover=True)
        flash(
            f"Template {block['name']} queued"
            + ("; you took over this conversation, the AI is paused until you hand it back." if took_over else "."),
            "success",
        )
        return self._back(conversation)

    @expose("/c/<uuid:conversation_id>/note", methods=["POST"])
    def note(self, conversation_id):
        conversation = _conversation_or_404(conversation_id)
        form = NoteForm()
        if not form.validate_on_submit():
            return self._render_conversation(conversation, 400, note_form=form)
        note = ConversationNote(
            organization_id=conversation.organization_id,
            conversation_id=conversation.id,
            user_id=current_user.id,
            body=form.body.data.strip(),
        )
        db.session.add(note)
        db.session.commit()
        publish(conversation.organization_id, conversation.id, "note.created", {"note_id": note.id})
        flash("Note added (only your team sees it).", "success")
        return self._back(conversation)

    @expose("/c/<uuid:conversation_id>/take-over", methods=["POST"])
    def take_over(self, conversation_id):
        from chatpad.pipeline import take_over

        conversation = _conversation_or_404(conversation_id)
        form = TakeOverForm()
        if not form.validate_on_submit():
            return self._render_conversation(conversation, 400, takeover_form=form)
        hours = float(form.hours.data) if form.hours.data else None
        take_over(conversation, user=_user(), reason="Taken over from the inbox", hours=hours)
        if hours:
            flash(f"You took over. The AI answers again automatically after {hours:g} hours.", "success")
        else:
            flash("You took over. The AI stays quiet until you hand the conversation back.", "success")
        return self._back(conversation)

    @expose("/c/<uuid:conversation_id>/hand-back", methods=["POST"])
    def hand_back(self, conversation_id):
        from chatpad.pipeline import hand_back

        conversation = _conversation_or_404(conversation_id)
        if ActionForm().validate_on_submit():
            if conversation.human_takeover:
                hand_back(conversation, user=_user())
                flash("Handed back: the AI answers this conversation again.", "success")
            else:
                flash("The AI already answers this conversation.", "info")
        return self._back(conversation)

    def _set_status(self, conversation: Conversation, status: str, message: str):
        if not ActionForm().validate_on_submit():
            abort(400)
        if conversation.status != status:
            previous = conversation.status
            conversation.status = status
            record_audit(
                f"conversation.{'resolve' if status == 'resolved' else 'reopen'}",
                organization_id=conversation.organization_id,
                user_id=current_user.id,
                target=conversation,
                detail={"from": previous},
                ip=request.remote_addr,
            )
            db.session.commit()
            _changed(conversation, status=status)
            flash(message, "success")
        return self._back(conversation)

    @expose("/c/<uuid:conversation_id>/resolve", methods=["POST"])
    def resolve(self, conversation_id):
        conversation = _conversation_or_404(conversation_id)
        return self._set_status(conversation, "resolved", "Resolved. It reopens if the customer writes again.")

    @expose("/c/<uuid:conversation_id>/reopen", methods=["POST"])
    def reopen(self, conversation_id):
        conversation = _conversation_or_404(conversation_id)
        return self._set_status(conversation, "open", "Reopened.")

    @expose("/c/<uuid:conversation_id>/messages/<int:message_id>/retry", methods=["POST"])
    def retry(self, conversation_id, message_id):
        """Send a failed message again, as a new message through the pipeline (the failed one stays, marked as
        re-sent). A person's reply on Messenger after the 24-hour window goes with Meta's HUMAN_AGENT tag (up to 7
        days after the customer's last message); the adapter decides the tag, as for any reply."""
        from chatpad.pipeline import ReplyRefusedError, queue_reply

        conversation = _conversation_or_404(conversation_id)
        if not ActionForm().validate_on_submit():
            abort(400)
        message = db.session.scalar(
            select(Message).where(
                Message.id == message_id,
                Message.conversation_id == conversation.id,
                Message.direction == "outbound",
                Message.status == "failed",
                Message.deleted_at.is_(None),
            )
        )
        if message is None:
            abort(404)
        if (message.meta or {}).get("retried_as"):
            flash("That message was already re-sent.", "info")
            return self._back(conversation)
        if message.media or not (message.content or "").strip():
            flash("A message with attachments cannot be re-sent from here; send it again from the reply box.", "error")
            return self._back(conversation)
        sender = "human" if message.sender_type == "human" else "ai"
        try:
            rows = queue_reply(
                conversation,
                OutboundReply(message.content, sender_type=sender),
                user=_user() if sender == "human" else None,
                idempotency_key=f"retry:{message.id}",
            )
        except ReplyRefusedError as exc:
            db.session.rollback()
            flash(f"Not re-sent: {exc}", "error")
            return self._back(conversation)
        message.meta = {**(message.meta or {}), "retried_as": rows[0].id}
        self._audit(conversation, "message.retry", {"message_id": message.id, "new_message_id": rows[0].id})
        db.session.commit()
        _changed(conversation, retried=message.id)
        first = rows[0]
        if first.status != "pending":
            flash(f"Not re-sent: {first.error}", "error")
        elif (first.meta or {}).get("payload", {}).get("tag") == "HUMAN_AGENT":
            flash("Re-sent with Meta's HUMAN_AGENT tag (a person's reply, within 7 days of the customer's).", "success")
        else:
            flash("Re-sent: queued again.", "success")
        return self._back(conversation)

    @expose("/c/<uuid:conversation_id>/labels", methods=["POST"])
    def labels(self, conversation_id):
        """Add a label (label=...) or take one off (remove=...)."""
        conversation = _conversation_or_404(conversation_id)
        if not ActionForm().validate_on_submit():
            abort(400)
        remove = clean_label(request.form.get("remove") or "")
        if remove:
            row = db.session.get(ConversationLabel, (conversation.id, remove))
            if row is not None:
                db.session.delete(row)
        else:
            name = clean_label(request.form.get("label") or "")
            if not name:
                flash("Write the label to add.", "error")
                return self._back(conversation)
            if db.session.get(ConversationLabel, (conversation.id, name)) is None:
                db.session.add(
                    ConversationLabel(
                        conversation_id=conversation.id, name=name, organization_id=conversation.organization_id
                    )
                )
        db.session.commit()
        _changed(conversation, labels=True)
        return self._back(conversation)

    @expose("/c/<uuid:conversation_id>/assign", methods=["POST"])
    def assign(self, conversation_id):
        conversation = _conversation_or_404(conversation_id)
        form = AssignForm()
        # Only colleagues who may open it: an on-site manager of another community is "Not a valid choice".
        form.user.choices = _assign_choices(assignable_users(conversation))
        if not form.validate_on_submit():
            return self._render_conversation(conversation, 400, assign_form=form)
        previous = conversation.assigned_user_id
        conversation.assigned_user_id = int(form.user.data) if form.user.data else None
        if conversation.assigned_user_id and conversation.assigned_user_id != previous:
            notify_assigned(conversation, db.session.get(User, conversation.assigned_user_id), by=_user())
        record_audit(
            "conversation.assign",
            organization_id=conversation.organization_id,
            user_id=current_user.id,
            target=conversation,
            detail={"assigned_user_id": conversation.assigned_user_id},
            ip=request.remote_addr,
        )
        db.session.commit()
        _changed(conversation, assigned_user_id=conversation.assigned_user_id)
        flash("Assignment saved.", "success")
        return self._back(conversation)

    # --- contacts: merge and split ---

    @expose("/c/<uuid:conversation_id>/merge", methods=["POST"])
    def merge(self, conversation_id):
        form = MergeForm()
        return self._contact_change(
            conversation_id,
            form,
            lambda: form.other.data,
            merge_contacts,
            lambda other, keep, moved: (
                f"Merged {other.display_name} into {keep.display_name}: {moved} conversation"
                f"{'' if moved == 1 else 's'} moved. Split them again from this page if that was a mistake."
            ),
            "success",
        )

    @expose("/c/<uuid:conversation_id>/split/<uuid:contact_id>", methods=["POST"])
    def split(self, conversation_id, contact_id):
        return self._contact_change(
            conversation_id,
            ActionForm(),
            lambda: contact_id,
            split_contact,
            lambda other, keep, moved: (
                f"Split {other.display_name} off again: {moved} conversation{'' if moved == 1 else 's'} went back."
            ),
            "message",
        )

    def _contact_change(self, conversation_id, form, other_id, change, message, category: str):
        """Merge or split the conversation's contact with another of the organization, and say what moved."""
        conversation = _conversation_or_404(conversation_id)
        if not form.validate_on_submit():
            abort(400)
        other = get_contact(current_scope(), other_id())
        if other is None:
            abort(404)
        keep = conversation.contact
        try:
            moved = change(keep, other, user_id=current_user.id, ip=request.remote_addr)
        except ContactMergeError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return self._back(conversation)
        db.session.commit()
        _changed(conversation, contact_id=str(keep.id))
        flash(message(other, keep, moved), category)
        return self._back(conversation)

    # --- files ---

    @expose("/attachments/<int:attachment_id>")
    def attachment(self, attachment_id):
        row = db.session.execute(
            select(Attachment)
            .join(Message, Message.id == Attachment.message_id)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Attachment.id == attachment_id, current_scope().where(Conversation), Message.deleted_at.is_(None))
        ).scalar_one_or_none()
        if row is None:
            abort(404)
        path = safe_join(current_app.config["ATTACHMENT_DIR"], row.storage_key)
        if path is None or not Path(path).is_file():
            abort(404)
        inline = row.content_type in INLINE_IMAGE_TYPES and request.args.get("download") != "1"
        return send_file(
            path,
            mimetype=row.content_type if inline else "application/octet-stream",
            as_attachment=not inline,
            download_name=row.filename,
            max_age=0,
        )

    # --- live updates ---

    @expose("/events")
    def events(self):
        conversation_id = request.args.get("conversation")
        if conversation_id:
            try:
                ident = uuid.UUID(conversation_id)
            except ValueError:
                abort(404)
            conversation = _conversation_or_404(ident)
            channels = [conversation_channel(conversation.id)]
        else:
            channels = [org_channel(_org_id())]
        user_id = current_user.id
        db.session.remove()  # the stream may last minutes: give the database connection back now
        return event_stream(channels, user_id)

    # --- notifications ---

    def _notifications_query(self):
        """The signed-in person's own notifications (each person has their own, and their own read state)."""
        return select(Notification).where(current_scope().where(Notification), Notification.user_id == current_user.id)

    @expose("/notifications/")
    def notifications(self):
        rows = db.session.scalars(
            self._notifications_query().order_by(Notification.created_at.desc(), Notification.id.desc()).limit(100)
        ).all()
        settings = NotificationSettingsForm(notify_email=current_user.notify_email)
        return self.render(
            "inbox/notifications.html",
            notifications=rows,
            action_form=ActionForm(),
            settings_form=settings,
            email_configured=bool(current_app.config.get("ALERT_SMTP_URL")),
        )

    @expose("/notifications/<int:notification_id>/open", methods=["POST"])
    def open_notification(self, notification_id):
        if not ActionForm().validate_on_submit():
            abort(400)
        row = db.session.scalar(self._notifications_query().where(Notification.id == notification_id))
        if row is None:
            abort(404)
        if row.read_at is None:
            row.read_at = utcnow()
            db.session.commit()
        if row.conversation_id:
            return redirect(url_for(".conversation", conversation_id=row.conversation_id))
        return redirect(url_for(".notifications"))

    @expose("/notifications/read-all", methods=["POST"])
    def read_all(self):
        if not ActionForm().validate_on_submit():
            abort(400)
        db.session.execute(
            update(Notification)
            .where(
                current_scope().where(Notification),
                Notification.user_id == current_user.id,
                Notification.read_at.is_(None),
            )
            .values(read_at=utcnow()),
            execution_options={"synchronize_session": False},
        )
        db.session.commit()
        flash("All notifications marked as read.", "success")
        return redirect(url_for(".notifications"))

    @expose("/notifications/settings", methods=["POST"])
    def notification_settings(self):
        form = NotificationSettingsForm()
        if not form.validate_on_submit():
            abort(400)
        user = db.session.get(User, current_user.id)
        user.notify_email = bool(form.notify_email.data)
        record_audit(
            "user.notification_settings",
            organization_id=user.organization_id,
            user_id=user.id,
            target=user,
            detail={"notify_email": user.notify_email},
            ip=request.remote_addr,
        )
        db.session.commit()
        flash("Saved.", "success")
        return redirect(url_for(".notifications"))


class AnalyticsView(SecureViewMixin, BaseView):
    """Per channel and per location over a period, drawn as SVG on the server; CSV for spreadsheets. For owners and
    admins (the whole business), and for on-site managers (agents limited to locations), who see the figures of
    their own locations only; agents of the whole business work the inbox without them."""

    allowed_roles = ("owner", "admin")

    def is_accessible(self) -> bool:
        if super().is_accessible():
            return True
        return current_user.is_authenticated and current_user.role == "agent" and current_user.limited_to_locations

    def _report(self):
        try:
            period = analytics.parse_period(request.args)
        except analytics.PeriodError as exc:
            flash(str(exc), "error")
            period = analytics.parse_period({})
        return analytics.build_report(current_scope(), period)

    @expose("/")
    def index(self):
        report = self._report()
        channel_rows = [(s.label, s.conversations, f"{s.conversations:,}") for s in report.by_channel]
        location_rows = [(s.label, s.conversations, f"{s.conversations:,}") for s in report.by_location[:20]]
        frt = [s for s in report.by_channel if s.median_first_response is not None]
        charts = {
            "daily": daily_columns(
                report.daily, title="Messages per day, by channel", channels=report.channels or list(CHANNEL_COLORS)
            ),
            "channels": hbar_chart(
                channel_rows,
                title="Conversations per channel",
                colors=[CHANNEL_COLORS.get(s.key, "#007bff") for s in report.by_channel],
            ),
            "handled": stacked_share_chart(
                [(s.label, {"ai": s.ai, "human": s.human, "unanswered": s.unanswered}) for s in report.by_channel]
                + [
                    (
                        "All channels",
                        {"ai": report.total.ai, "human": report.total.human, "unanswered": report.total.unanswered},
                    )
                ],
                title="Who answered: the AI, or people",
                segments=[("ai", "Answered by the AI"), ("human", "Handed to people"), ("unanswered", "Unanswered")],
            ),
            "frt": hbar_chart(
                [(s.label, s.median_first_response, analytics.format_duration(s.median_first_response)) for s in frt],
                title="Median first-response time per channel",
                colors=[CHANNEL_COLORS.get(s.key, "#007bff") for s in frt],
            ),
            "locations": hbar_chart(location_rows, title="Conversations per location (top 20)", color="#28a745"),
            "tours_channels": hbar_chart(
                [(s.label, s.tours, f"{s.tours:,}") for s in report.by_channel if s.tours],
                title="Tours booked per channel",
                colors=[CHANNEL_COLORS.get(s.key, "#007bff") for s in report.by_channel if s.tours],
            ),
            "tours_locations": hbar_chart(
                [
                    (s.label, s.tours, f"{s.tours:,} ({s.conversion * 100:.0f}%)" if s.conversion else f"{s.tours:,}")
                    for s in sorted(report.by_location, key=lambda g: -g.tours)[:20]
                    if s.tours
                ],
                title="Tours booked per location (top 20), with the share of conversations",
                color="#6f42c1",
                label_width=200,
            ),
            "failures": hbar_chart(
                [
                    (f"{channel_label(f['channel'])}: {f['reason']}", f["count"], str(f["count"]))
                    for f in report.failures[:12]
                ],
                title="Failed sends by reason",
                color="#dc3545",
                label_width=260,
                width=640,
            ),
        }
        return self.render(
            "analytics/index.html",
            report=report,
            charts=charts,
            period_days=analytics.PERIOD_DAYS,
            duration=analytics.format_duration,
        )

    def _csv(self, rows, name: str):
        buffer = io.StringIO()
        # The shared writer escapes formulas: location names and reasons are user text.
        csvfile.writer(buffer).writerows(rows)
        record_audit(
            "analytics.export",
            organization_id=_org_id(),
            user_id=current_user.id,
            detail={"file": name, "args": request.args.to_dict()},
            ip=request.remote_addr,
        )
        db.session.commit()
        response = make_response(buffer.getvalue())
        response.headers["Content-Type"] = "text/csv; charset=utf-8"
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    @expose("/export.csv")
    def export(self):
        report = self._report()
        name = f"chatpad-analytics-{report.period.first_day}-{report.period.last_day}.csv"
        return self._csv(analytics.csv_rows(report), name)

    @expose("/failures.csv")
    def export_failures(self):
        report = self._report()
        name = f"chatpad-failed-sends-{report.period.first_day}-{report.period.last_day}.csv"
        return self._csv(analytics.failure_csv_rows(report), name)


def unread_notifications(scope: Scope | int, user_id: int, cap: int = 99) -> int:
    """Unread notifications for the bell in the top bar (counted up to cap), within the person's scope."""
    inner = (
        select(Notification.id)
        .where(
            Scope.coerce(scope).where(Notification),
            Notification.user_id == user_id,
            Notification.read_at.is_(None),
        )
        .limit(cap + 1)
        .subquery()
    )
    return db.session.scalar(select(func.count()).select_from(inner))
