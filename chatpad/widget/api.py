"""The visitor API: /api/widget/<key>/{config, session, messages, rating, end}.

Every request is checked in this order, and refused with a JSON error before anything is stored:
unknown or inactive widget key → 404; missing or disallowed Origin → 403; too many requests → 429 (Retry-After);
missing, forged or expired visitor token → 401; body too large or message too long → 413; malformed → 400/422.
Visitor messages go through the shared pipeline: the envelope is stored in webhook_events and ingested at once, in
one transaction (the visitor is waiting); if that fails, the event is stored pending and announced to the inbound
workers like any webhook.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask import Response, current_app, g, jsonify, request, send_from_directory, url_for
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import joinedload

from chatpad import realtime, streams
from chatpad.ai import greeting_quick_replies
from chatpad.channels import get_channel
from chatpad.channels.widget.adapter import build_envelope, external_id_for
from chatpad.channels.widget.settings import WidgetSettings, origin_allowed
from chatpad.channels.widget.tokens import (
    TokenError,
    Visitor,
    issue_stream_ticket,
    issue_visitor_token,
    new_visitor_id,
    read_visitor_token,
)
from chatpad.contacts import claim_email
from chatpad.extensions import db
from chatpad.http import loads_json
from chatpad.models import ContactIdentity, Conversation, Message, Rating, SocialAccount, WebhookEvent, utcnow

from . import bp
from .cors import add_cors_headers, preflight_response
from .ratelimit import RateLimited, hit
from .visitor import (
    conversation_state,
    conversations_clause,
    current_conversation,
    make_cursor,
    serialize_messages,
    visible_messages,
    visitor_channel,
)

log = logging.getLogger("chatpad.widget")
STATIC_DIR = Path(__file__).resolve().parent.parent / "static" / "widget"
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
NAME_MAX, COMMENT_MAX, PAGE_URL_MAX, PAGE_TITLE_MAX = 200, 1000, 1000, 300

API = "/api/widget/<key>"


class ApiError(Exception):
    """A refusal with a status, a stable error code for the script and a sentence for a person."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_response(exc: ApiError, origin: str | None) -> Response:
    response = jsonify({"error": exc.code, "message": exc.message})
    response.status_code = exc.status
    response.headers.update(exc.headers)
    response.headers["Cache-Control"] = "no-store"
    # Errors carry no visitor data, so the page may read them: the script can then say what is wrong.
    return add_cors_headers(response, origin)


@dataclass
class WidgetRequest:
    """What the checks established about the current request."""

    account: SocialAccount
    settings: WidgetSettings
    origin: str
    visitor: Visitor | None = None


def current() -> WidgetRequest:
    return g.widget_request


def visitor_api(*, needs_visitor: bool):
    """Wrap a visitor endpoint: widget key, Origin, rate limits and (optionally) the visitor token, in that order;
    answers the CORS preflight; adds CORS headers to every answer."""

    def decorator(view):
        @wraps(view)
        def wrapper(key: str, **kwargs):
            origin = request.headers.get("Origin")
            try:
                account = load_widget(key)
                if account is None:
                    raise ApiError(404, "unknown_widget", "No active widget has this key.")
                settings = WidgetSettings.of(account)
                if not origin:
                    raise ApiError(403, "origin_required", "The widget API is called from a web page (Origin).")
                if not origin_allowed(origin, settings.allowed_origins):
                    log.info("widget %s refused origin %s", key, origin)
                    raise ApiError(
                        403,
                        "origin_not_allowed",
                        f"{origin} is not an allowed origin of this widget; add it in ChatPad's widget settings.",
                    )
                if request.method == "OPTIONS":
                    return preflight_response(origin)
                _limit("WIDGET_RATE_LIMIT_REQUESTS_IP", request.remote_addr or "?")
                g.widget_request = WidgetRequest(account, settings, origin)
                if needs_visitor:
                    g.widget_request.visitor = _visitor_from_header(account)
                    _limit("WIDGET_RATE_LIMIT_REQUESTS_VISITOR", str(account.id), g.widget_request.visitor.visitor_id)
                response = view(key, **kwargs)
            except ApiError as exc:
                return error_response(exc, origin)
            if not isinstance(response, Response):
                response = current_app.make_response(response)
            response.headers.setdefault("Cache-Control", "no-store")
            return add_cors_headers(response, origin)

        return wrapper

    return decorator


def _limit(setting: str, *identifiers: str) -> None:
    try:
        hit(setting, *identifiers)
    except RateLimited as exc:
        raise ApiError(
            429,
            "rate_limited",
            f"Too many requests; try again in {exc.retry_after} s.",
            {"Retry-After": str(exc.retry_after)},
        ) from None


def load_widget(key: str) -> SocialAccount | None:
    """The widget with this public key if it can take messages (active, not disconnected, its agent active)."""
    if not key or len(key) > 100:
        return None
    account = db.session.scalar(
        select(SocialAccount)
        .options(joinedload(SocialAccount.agent), joinedload(SocialAccount.location))
        .where(SocialAccount.channel == "widget", SocialAccount.account_id == key)
    )
    if account is None or not account.is_active or account.status == "disconnected":
        return None
    if account.agent is None or not account.agent.active:
        return None
    return account


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _visitor_from_header(account: SocialAccount) -> Visitor:
    try:
        return read_visitor_token(_bearer(), account.id)
    except TokenError as exc:
        raise ApiError(401, "invalid_token", f"The visitor token is {exc.reason}; start a new session.") from None


def json_body() -> dict[str, Any]:
    """The request's JSON object, read with a size limit (the body is never read past it)."""
    limit = current_app.config["WIDGET_MAX_BODY_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "body_too_large", f"The request body is larger than {limit} bytes.")
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        raise ApiError(413, "body_too_large", f"The request body is larger than {limit} bytes.")
    if not raw.strip():
        return {}
    try:
        data = loads_json(raw)
    except ValueError:
        raise ApiError(400, "bad_json", "The request body is not JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "bad_json", "The request body must be a JSON object.")
    return data


def _optional_text(data: dict, name: str, limit: int) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(422, f"bad_{name}", f"{name} must be text.")
    value = value.strip()
    if len(value) > limit:
        raise ApiError(422, f"bad_{name}", f"{name} is longer than {limit} characters.")
    return value or None


def _profile(data: dict) -> tuple[str | None, str | None]:
    name = _optional_text(data, "name", NAME_MAX)
    email = _optional_text(data, "email", 254)
    if email:
        try:
            email = validate_email(email, check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            raise ApiError(422, "bad_email", "That email address does not look right.") from None
    return name, email


# --- the embed script ------------------------------------------------------------------------------------------


@bp.get("/widget.js")
def widget_js():
    """The embed script. Cached briefly (a new version reaches every site within minutes); loadable cross-origin."""
    response = send_from_directory(STATIC_DIR, "widget.js", mimetype="text/javascript", max_age=300)
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


# --- the visitor API ---------------------------------------------------------------------------------------------


@bp.route(f"{API}/config", methods=["GET", "OPTIONS"])
@visitor_api(needs_visitor=False)
def config(key: str):
    """The widget's appearance and behaviour, for the launcher. No visitor yet, nothing stored."""
    response = jsonify({"config": current().settings.public_config()})
    response.headers["Cache-Control"] = "private, max-age=60"
    return response


@bp.route(f"{API}/session", methods=["POST", "OPTIONS"])
@visitor_api(needs_visitor=False)
def session(key: str):
    """Start or resume a visitor session: the (re-issued) token, the stream URL and the earlier conversation.

    A valid token resumes its visitor; no token, or one that is expired or for another widget, starts a new visitor
    (limited per IP, so nobody mints visitors to dodge the per-visitor limits). name/email, when given, are kept in
    the token and reach the contact with the next message; an existing contact is updated now."""
    req = current()
    data = json_body()
    visitor = None
    token = _bearer()
    if token:
        try:
            visitor = read_visitor_token(token, req.account.id)
        except TokenError:
            visitor = None
    if visitor is None:
        _limit("WIDGET_RATE_LIMIT_SESSIONS_IP", request.remote_addr or "?")
        visitor = Visitor(account_id=req.account.id, visitor_id=new_visitor_id())
    else:
        _limit("WIDGET_RATE_LIMIT_REQUESTS_VISITOR", str(req.account.id), visitor.visitor_id)
    if "name" in data or "email" in data:
        name, email = _profile(data)
        if "name" in data:
            visitor.name = name
        if "email" in data:
            visitor.email = email
        _update_known_contact(req.account, visitor)
    req.visitor = visitor
    return jsonify(_session_payload(req))


def _session_payload(req: WidgetRequest) -> dict[str, Any]:
    visitor = req.visitor
    messages = visible_messages(req.account, visitor.visitor_id)
    # Paths, not URLs, where they can be: the script resolves them against the address it was loaded from, whatever
    # the proxy in front. Streams and long polls go to the stream process (chatpad.streams.url), short polls here.
    key = req.account.account_id
    return {
        "token": issue_visitor_token(visitor),
        "visitor": {"id": visitor.visitor_id, "name": visitor.name, "email": visitor.email},
        "stream_url": streams.url(url_for("widget.events", key=key, ticket=issue_stream_ticket(visitor))),
        "long_poll_url": streams.url(url_for("widget.wait", key=key)),
        "poll_url": url_for("widget.messages", key=key),
        "poll_seconds": current_app.config["WIDGET_POLL_SECONDS"],
        "heartbeat": current_app.config["WIDGET_HEARTBEAT_SECONDS"],
        "conversation": conversation_state(current_conversation(req.account, visitor.visitor_id)),
        "messages": serialize_messages(messages, assistant_name=req.settings.appearance["title"]),
        "cursor": make_cursor(messages),
        "config": req.settings.public_config(),
        # The first open: the greeting offers what the assistant can do, as chips (nothing is stored until a tap).
        "greeting_quick_replies": greeting_quick_replies() if req.account.location_id else [],
        "limits": {"max_message_chars": current_app.config["WIDGET_MAX_MESSAGE_CHARS"]},
    }


def _update_known_contact(account: SocialAccount, visitor: Visitor) -> None:
    """A visitor who has written before and now tells us their name or email: fill the contact's empty fields
    (as the pipeline does for every channel). A typed email is only a claim: it is kept on the identity and offered
    to the team as a merge suggestion, never merged or filled in (chatpad.contacts.claim_email)."""
    identity = db.session.scalar(
        select(ContactIdentity).where(
            ContactIdentity.social_account_id == account.id, ContactIdentity.external_id == visitor.visitor_id
        )
    )
    if identity is None:
        return
    contact = identity.contact
    changed = False
    if visitor.name:
        identity.display_name = visitor.name
        if not contact.name:
            contact.name, changed = visitor.name, True
    if visitor.email and (identity.profile or {}).get("email") != visitor.email.strip().lower():
        claim_email(identity, visitor.email)
        changed = True
    db.session.commit()
    if changed:
        conversation = current_conversation(account, visitor.visitor_id)
        if conversation is not None:
            realtime.publish(conversation.organization_id, conversation.id, "conversation.updated", {"contact": True})


def post_message(key: str):
    """A visitor's message: limits, validation, stored raw, then through the pipeline. 201 with the stored
    message; 200 with the same message when the browser retries (same client_id); 202 when it was queued."""
    req = current()
    visitor = req.visitor
    data = json_body()
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(422, "empty_message", "Write a message first.")
    text = text.strip()
    max_chars = current_app.config["WIDGET_MAX_MESSAGE_CHARS"]
    if len(text) > max_chars:
        raise ApiError(413, "message_too_long", f"Messages are limited to {max_chars} characters.")
    client_id = data.get("client_id") or uuid.uuid4().hex
    if not isinstance(client_id, str) or not CLIENT_ID_RE.match(client_id):
        raise ApiError(422, "bad_client_id", "client_id is 1-64 letters, digits, '-' or '_'.")
    page_url = _optional_text(data, "page_url", PAGE_URL_MAX)
    if page_url and not page_url.startswith(("https://", "http://")):
        page_url = None
    page_title = _optional_text(data, "page_title", PAGE_TITLE_MAX)

    _limit("WIDGET_RATE_LIMIT_MESSAGES_VISITOR", str(req.account.id), visitor.visitor_id)
    _limit("WIDGET_RATE_LIMIT_MESSAGES_WIDGET", str(req.account.id))

    body = build_envelope(
        widget_key=req.account.account_id,
        visitor_id=visitor.visitor_id,
        client_id=client_id,
        text=text,
        name=visitor.name,
        email=visitor.email,
        page_url=page_url,
        page_title=page_title,
        origin=req.origin,
    )
    try:
        result = _ingest_now(body)
    except Exception:
        db.session.rollback()
        log.warning("widget message for %s not ingested in the request; stored and queued", key, exc_info=True)
        _store_for_later(body)
        return jsonify({"status": "queued", "client_id": client_id}), 202

    if result.status == "ignored":
        raise ApiError(409, "widget_unavailable", "This chat is not taking messages right now.")
    external_id = external_id_for(visitor.visitor_id, client_id)
    message = db.session.get(Message, result.message_id) if result.message_id else _stored(req.account, external_id)
    if message is None:
        raise ApiError(409, "widget_unavailable", "This chat is not taking messages right now.")
    realtime_payload = {"event": "visitor.message", "conversation_id": str(message.conversation_id)}
    _publish_visitor(req.account, visitor.visitor_id, realtime_payload)
    # 200 with the same message when the browser retried a POST that had worked (same client_id).
    return jsonify(_message_payload(req, message)), 201 if result.status == "stored" else 200


def _ingest_now(body: bytes):
    """Store the raw event and ingest it in one transaction: ingest's commit makes the event, the contact, the
    conversation and the message durable together (the visitor's browser retries with the same client_id if the
    request dies before that). Events ingest does not commit (duplicates, ignored) are committed here."""
    from chatpad.pipeline import ingest

    (parsed,) = get_channel("widget").parse(body)
    event = WebhookEvent(channel="widget", body=body, status="processed", attempts=1, processed_at=utcnow())
    db.session.add(event)
    db.session.flush()
    result = ingest(parsed, raw_event_id=event.id)
    if result.status != "stored":
        event.status = "ignored" if result.status == "ignored" else "processed"
        event.error = result.reason
        db.session.commit()
    return result


def _store_for_later(body: bytes) -> None:
    """The queued path: the raw event as pending, announced to the inbound workers like any webhook (the sweeper
    queues it if the announcement is lost). If even this fails the visitor is told to try again."""
    try:
        event = WebhookEvent(channel="widget", body=body)
        db.session.add(event)
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("could not store a widget message")
        raise ApiError(503, "unavailable", "We could not take your message just now; please try again.") from None
    try:
        from chatpad.lanes import announce

        announce(event.id)
    except Exception:  # the sweeper queues stored events that were never announced
        log.warning("could not announce widget event %s; the sweeper will", event.id, exc_info=True)


def _stored(account: SocialAccount, external_id: str) -> Message | None:
    return db.session.scalar(
        select(Message).where(Message.channel_account_id == account.id, Message.external_id == external_id)
    )


def _message_payload(req: WidgetRequest, message: Message) -> dict[str, Any]:
    conversation = db.session.get(Conversation, message.conversation_id)
    (item,) = serialize_messages([message], assistant_name=req.settings.appearance["title"])
    return {"message": item, "conversation": conversation_state(conversation)}


def _publish_visitor(account: SocialAccount, visitor_id: str, payload: dict[str, Any]) -> None:
    from chatpad.queue import get_redis

    try:
        get_redis().publish(visitor_channel(account.id, visitor_id), json.dumps(payload))
    except Exception:  # live updates are best-effort; the stream re-reads the database
        log.warning("could not publish to visitor %s", visitor_id, exc_info=True)


@bp.route(f"{API}/rating", methods=["POST", "OPTIONS"])
@visitor_api(needs_visitor=True)
def rate(key: str):
    """The visitor rates their conversation: thumbs (score 1 up, 0 down) or 1–5, with an optional comment. Rating
    again replaces the earlier rating of the same conversation."""
    req = current()
    data = json_body()
    conversation = _visitor_conversation(req, data.get("conversation_id"))
    scale = data.get("scale") or req.settings.rating_scale
    score = data.get("score")
    if scale not in ("thumbs", "five"):
        raise ApiError(422, "bad_scale", "scale is thumbs or five.")
    valid = (0, 1) if scale == "thumbs" else (1, 2, 3, 4, 5)
    if isinstance(score, bool) or not isinstance(score, int) or score not in valid:
        raise ApiError(422, "bad_score", f"score must be one of {', '.join(map(str, valid))} for {scale}.")
    comment = _optional_text(data, "comment", COMMENT_MAX)
    _limit("WIDGET_RATE_LIMIT_RATINGS_VISITOR", str(req.account.id), req.visitor.visitor_id)

    rating = db.session.scalar(select(Rating).where(Rating.conversation_id == conversation.id).limit(1))
    created = rating is None
    if created:
        rating = Rating(conversation_id=conversation.id)
        db.session.add(rating)
    rating.scale, rating.score, rating.comment = scale, score, comment
    db.session.commit()
    realtime.publish(
        conversation.organization_id, conversation.id, "rating.created", {"rating_id": rating.id, "score": score}
    )
    body = {
        "rating": {"scale": scale, "score": score, "comment": comment},
        "conversation": conversation_state(conversation),
    }
    return jsonify(body), 201 if created else 200


@bp.route(f"{API}/end", methods=["POST", "OPTIONS"])
@visitor_api(needs_visitor=True)
def end(key: str):
    """The visitor ends the chat: the conversation is resolved (their next message starts a new one)."""
    req = current()
    data = json_body()
    conversation = _visitor_conversation(req, data.get("conversation_id"))
    if conversation.status != "resolved":
        conversation.status = "resolved"
        db.session.add(
            Message(
                conversation_id=conversation.id,
                channel=conversation.channel,
                channel_account_id=conversation.social_account_id,
                direction="inbound",
                sender_type="system",
                content="The visitor ended the chat.",
                status="internal",
                created_at=utcnow(),
            )
        )
        db.session.commit()
        realtime.publish(conversation.organization_id, conversation.id, "conversation.updated", {"status": "resolved"})
    return jsonify({"conversation": conversation_state(conversation)})


def _visitor_conversation(req: WidgetRequest, conversation_id: Any) -> Conversation:
    """The visitor's own conversation by id, else their latest; 404 when they have none (or name someone else's)."""
    if conversation_id:
        try:
            wanted = uuid.UUID(str(conversation_id))
        except ValueError:
            raise ApiError(404, "no_conversation", "No such conversation.") from None
        conversation = db.session.scalar(
            select(Conversation).where(
                Conversation.id == wanted, conversations_clause(req.account, req.visitor.visitor_id)
            )
        )
    else:
        conversation = current_conversation(req.account, req.visitor.visitor_id)
    if conversation is None:
        raise ApiError(404, "no_conversation", "There is no conversation to rate or end yet.")
    return conversation
