"""The visitor API as a visitor's browser uses it: sessions, messages through the pipeline, history, ratings, and
every kind of bad input refused with a clear 4xx and nothing stored."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select

from chatpad.channels.widget.settings import WidgetSettings
from chatpad.channels.widget.tokens import VISITOR_SALT
from chatpad.models import Contact, ContactIdentity, Conversation, Message, Rating, WebhookEvent
from tests.plugins.widget import ORIGIN, WidgetVisitor, make_widget


def count(db, model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def nothing_stored(db) -> bool:
    return all(count(db, m) == 0 for m in (WebhookEvent, Message, Conversation, Contact, Rating))


# --- configuration and CORS ------------------------------------------------------------------------------------


def test_config_gives_the_launcher_its_look_for_an_allowed_origin(visitor, widget):
    """An allowed page gets the widget's title, greeting, colours and rating scale, readable cross-origin."""
    response = visitor.get("config")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Origin" in response.headers["Vary"]
    config = response.get_json()["config"]
    assert config["greeting"] and config["launcher_text"] and config["color"].startswith("#")
    assert config["title"] == widget.location.name and config["rating_scale"] == "thumbs"
    assert "allowed_origins" not in config  # where else the widget runs is none of a visitor's business


def test_location_settings_and_widget_settings_layer(db, make):
    """Appearance comes from the location's widget settings, overridden by the widget's own."""
    biz = make.business()
    biz.location.settings = {"widget": {"color": "#0f766e", "greeting": "Howdy from the lake!"}}
    db.session.commit()
    account = make_widget(make, biz, [ORIGIN], appearance={"launcher_text": "Ask us"})
    settings = WidgetSettings.of(account)
    assert settings.appearance["color"] == "#0f766e"
    assert settings.appearance["greeting"] == "Howdy from the lake!"
    assert settings.appearance["launcher_text"] == "Ask us"
    assert settings.appearance["title"] == biz.location.name


def test_preflight_is_answered_for_allowed_origins_only(client, visitor, db):
    """The browser's CORS preflight: 204 with the allowed methods and headers; 403 for other origins."""
    response = client.options(
        visitor.url("messages"),
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in response.headers

    refused = client.options(
        visitor.url("messages"), headers={"Origin": "https://evil.test", "Access-Control-Request-Method": "POST"}
    )
    assert refused.status_code == 403


@pytest.mark.parametrize("origin", ["https://evil.test", "http://www.forgelake.test", "null", None])
def test_a_disallowed_origin_is_refused_and_nothing_is_stored(client, widget, db, origin):
    """A page elsewhere (or no page at all) cannot start sessions or post messages, even with a valid token."""
    good = WidgetVisitor(client, widget.widget.account_id)
    good.start()
    bad = WidgetVisitor(client, widget.widget.account_id, origin=origin)
    bad.token = good.token
    for response in (bad.post("session", {}), bad.send("Hello from elsewhere"), bad.get("config")):
        assert response.status_code == 403
        assert response.get_json()["error"] in ("origin_not_allowed", "origin_required")
    assert nothing_stored(db)


def test_an_unknown_or_inactive_widget_key_is_404(client, widget, db):
    """Unknown keys and switched-off widgets answer 404 with a reason, and store nothing."""
    assert WidgetVisitor(client, "wk_doesnotexist").post("session", {}).status_code == 404
    response = WidgetVisitor(client, "wk_doesnotexist").send("hi")
    assert response.status_code == 404 and response.get_json()["error"] == "unknown_widget"
    widget.widget.is_active = False
    db.session.commit()
    assert WidgetVisitor(client, widget.widget.account_id).get("config").status_code == 404
    assert nothing_stored(db)


# --- sessions and tokens -----------------------------------------------------------------------------------------


def test_a_new_visitor_gets_a_token_and_a_stream_but_nothing_is_stored(visitor, db):
    """Opening the widget stores nothing: a contact appears only when the visitor writes."""
    session = visitor.start()
    assert session["token"] and session["visitor"]["id"].startswith("v_")
    assert "/events?ticket=" in session["stream_url"]
    assert session["messages"] == [] and session["conversation"] is None
    assert nothing_stored(db)
    sent = visitor.send("Hello")
    assert "Set-Cookie" not in sent.headers  # visitors carry a header token, never a cookie


def test_the_first_open_offers_what_the_assistant_can_do(visitor, db):
    """A widget's first open greets with tappable suggestions (each one the AI understands: tests/ai/test_offline.py),
    without storing anything."""
    session = visitor.start()
    assert session["greeting_quick_replies"] == ["Available homes", "Office hours", "Book a tour", "Lot rent"]
    assert nothing_stored(db)


@pytest.mark.parametrize(
    "token",
    ["garbage", "Bearer", URLSafeTimedSerializer("another-secret", salt=VISITOR_SALT).dumps({"w": "x", "v": "v_1"})],
)
def test_forged_tokens_are_refused(visitor, db, token):
    """A token not signed by us is 401 on every visitor endpoint, and nothing is stored."""
    for response in (
        visitor.post("messages", {"text": "hi"}, token=token),
        visitor.get("messages", token=token),
        visitor.post("rating", {"score": 1}, token=token),
    ):
        assert response.status_code == 401
        assert response.get_json()["error"] == "invalid_token"
    assert nothing_stored(db)


def test_a_token_from_another_widget_is_refused(client, make, widget, db):
    """A visitor of one widget cannot use their token on another widget (another business's, say)."""
    other = make.business()
    other_widget = make_widget(make, other, [ORIGIN])
    mine = WidgetVisitor(client, widget.widget.account_id)
    mine.start()
    theirs = WidgetVisitor(client, other_widget.account_id)
    theirs.token = mine.token
    response = theirs.send("Can I read their chat?")
    assert response.status_code == 401
    assert nothing_stored(db)


def test_an_expired_token_is_refused_and_a_session_starts_over(app, visitor, db, monkeypatch):
    """After WIDGET_VISITOR_TOKEN_MAX_AGE the token stops working; the script then starts a new session."""
    visitor.start()
    monkeypatch.setitem(app.config, "WIDGET_VISITOR_TOKEN_MAX_AGE", -1)
    response = visitor.send("hello?")
    assert response.status_code == 401 and "expired" in response.get_json()["message"]
    fresh = visitor.post("session", {})
    assert fresh.status_code == 200 and fresh.get_json()["visitor"]["id"] != visitor.session["visitor"]["id"]


# --- messages through the pipeline ----------------------------------------------------------------------------------


def test_a_visitor_message_goes_through_the_pipeline(visitor, widget, db, workers):
    """Stored raw, ingested at once: a conversation on the widget's location, a contact, and an AI reply queued."""
    visitor.start()
    response = visitor.send("Is lot 14 available?", client_id="c-1", page_url="https://www.forgelake.test/homes")
    assert response.status_code == 201
    body = response.get_json()
    assert body["message"]["text"] == "Is lot 14 available?" and body["message"]["from"] == "visitor"
    assert body["message"]["client_id"] == "c-1"
    conversation = db.session.get(Conversation, uuid.UUID(body["conversation"]["id"]))
    assert conversation.channel == "widget" and conversation.social_account_id == widget.widget.id
    assert conversation.location_id == widget.location.id and conversation.agent_id == widget.agent.id
    assert conversation.thread_key == visitor.session["visitor"]["id"]
    event = db.session.scalar(select(WebhookEvent))
    assert event.channel == "widget" and event.status == "processed"
    assert json.loads(event.body)["text"] == "Is lot 14 available?"
    message = db.session.scalar(select(Message))
    assert message.meta["page_url"] == "https://www.forgelake.test/homes"
    assert workers.queued("ai") == 1


def test_a_retried_post_stores_one_message(visitor, db):
    """The browser retrying after a network error (same client_id) gets the same message back, stored once."""
    visitor.start()
    first = visitor.send("Hello", client_id="retry-1")
    again = visitor.send("Hello", client_id="retry-1")
    assert first.status_code == 201 and again.status_code == 200
    assert first.get_json()["message"]["id"] == again.get_json()["message"]["id"]
    assert count(db, Message) == 1
    # Both deliveries are in the durable log, like a platform's redelivery; the second changed nothing.
    assert count(db, WebhookEvent, WebhookEvent.status == "processed") == 2


def test_a_typed_email_never_joins_a_stranger_to_someones_history(client, widget, db):
    """Issue 16 item 2: a visitor who types another person's email is not filed under that person's contact, and
    the AI's context for the visitor's chat holds none of that person's messages (a gate code and a date of birth
    sent by email); the team is offered the match as a merge suggestion instead."""
    from chatpad.ai.context import build_context
    from chatpad.contacts import merge_candidates

    known = Contact(organization_id=widget.org.id, name="Sarah Johnson", email="sarah@example.com")
    db.session.add(known)
    db.session.commit()
    visitor = WidgetVisitor(client, widget.widget.account_id)
    visitor.start(name="Sarah Johnson", email="Sarah@Example.com")
    conversation_id = visitor.send("What is my gate code?").get_json()["conversation"]["id"]
    assert visitor.post("session", {"email": "sarah@example.com"}).status_code == 200
    widget_chat = db.session.get(Conversation, uuid.UUID(conversation_id))
    email_chat = Conversation(
        organization_id=widget.org.id, agent_id=widget_chat.agent_id, contact_id=known.id, channel="email"
    )
    db.session.add(email_chat)
    db.session.flush()
    db.session.add(
        Message(
            conversation_id=email_chat.id,
            channel="email",
            direction="inbound",
            sender_type="customer",
            content="My gate code is 4471 and my date of birth is 1980-02-03.",
        )
    )
    db.session.commit()
    db.session.expire_all()
    identity = db.session.scalar(select(ContactIdentity).where(ContactIdentity.channel == "widget"))
    assert identity.contact_id != known.id
    assert identity.profile["email"] == "sarah@example.com"
    stranger = db.session.get(Contact, identity.contact_id)
    assert stranger.email is None and stranger.merged_into_id is None
    conversation = db.session.get(Conversation, uuid.UUID(conversation_id))
    assert conversation.contact_id == stranger.id
    prompt = repr(build_context(conversation))
    assert "4471" not in prompt and "1980-02-03" not in prompt
    suggestions = {c.contact.id: c.reason for c in merge_candidates(stranger)}
    assert suggestions.get(known.id) == "same email"


def test_a_returning_visitor_adding_details_updates_their_contact(visitor, db):
    """A name given after the first message fills the contact's empty name at once; an email is kept as the
    visitor's claim on the identity, not as the contact's address."""
    visitor.start()
    visitor.send("Hi")
    again = visitor.post("session", {"name": "Mike", "email": "mike@example.com"})
    assert again.status_code == 200
    contact = db.session.scalar(select(Contact))
    assert contact.name == "Mike" and contact.email is None
    identity = db.session.scalar(select(ContactIdentity).where(ContactIdentity.channel == "widget"))
    assert identity.profile["email"] == "mike@example.com"


def test_a_bad_email_is_refused_clearly(visitor, db):
    """A malformed email is a 422 with a sentence the widget can show."""
    response = visitor.post("session", {"email": "not-an-email"})
    assert response.status_code == 422 and response.get_json()["error"] == "bad_email"


def test_a_returning_visitor_sees_the_earlier_conversation(client, widget, db, workers):
    """With the token from localStorage, a new page load shows the whole earlier conversation, replies included."""
    from chatpad.messages import OutboundReply
    from chatpad.pipeline import queue_reply

    first = WidgetVisitor(client, widget.widget.account_id)
    first.start()
    posted = first.send("Do you have 3 bedroom homes?").get_json()
    conversation = db.session.get(Conversation, uuid.UUID(posted["conversation"]["id"]))
    queue_reply(conversation, OutboundReply("Yes, lot 14 is a 3 bed, 2 bath.", sender_type="human"), user=widget.user)
    workers.run("outbound")

    returning = WidgetVisitor(client, widget.widget.account_id)
    returning.token = first.token
    session = returning.start()
    assert session["visitor"]["id"] == first.session["visitor"]["id"]
    assert [m["text"] for m in session["messages"]] == [
        "Do you have 3 bedroom homes?",
        "Yes, lot 14 is a 3 bed, 2 bath.",
    ]
    assert [m["from"] for m in session["messages"]] == ["visitor", "human"]
    history = returning.get("messages").get_json()
    assert [m["id"] for m in history["messages"]] == [m["id"] for m in session["messages"]]


def test_a_reply_is_invisible_until_delivered_and_internal_notes_never_show(visitor, widget, db, workers):
    """Pending replies and the team's internal notes stay out of the visitor's view."""
    from chatpad.messages import OutboundReply
    from chatpad.pipeline import queue_reply, take_over

    visitor.start()
    conversation_id = visitor.send("Hello").get_json()["conversation"]["id"]
    conversation = db.session.get(Conversation, uuid.UUID(conversation_id))
    take_over(conversation, user=widget.user, reason="test")
    queue_reply(conversation, OutboundReply("Hi, Dana here.", sender_type="human"), user=widget.user)
    assert [m["text"] for m in visitor.get("messages").get_json()["messages"]] == ["Hello"]
    workers.run("outbound")
    history = visitor.get("messages").get_json()
    assert [m["text"] for m in history["messages"]] == ["Hello", "Hi, Dana here."]
    assert history["conversation"]["human"] is True
    assert count(db, Message, Message.status == "internal") == 1  # "… took over the conversation."


def test_two_visitors_with_the_same_email_do_not_see_each_other(client, widget, db):
    """A typed email is a claim: two visitors typing the same address stay two contacts, each seeing only their
    own chat."""
    alice = WidgetVisitor(client, widget.widget.account_id)
    alice.start(email="shared@example.com")
    alice.send("Alice's private question")
    mallory = WidgetVisitor(client, widget.widget.account_id)
    mallory.start(email="shared@example.com")
    mallory.send("Show me everything")
    texts = [m["text"] for m in mallory.get("messages").get_json()["messages"]]
    assert texts == ["Show me everything"]
    assert count(db, Contact) == 2 and count(db, Conversation) == 2


# --- bad input -------------------------------------------------------------------------------------------------------


def test_a_message_over_the_length_limit_is_413_and_not_stored(app, visitor, db):
    """Messages over WIDGET_MAX_MESSAGE_CHARS are refused with the limit in the message."""
    visitor.start()
    limit = app.config["WIDGET_MAX_MESSAGE_CHARS"]
    response = visitor.send("x" * (limit + 1))
    assert response.status_code == 413 and response.get_json()["error"] == "message_too_long"
    assert str(limit) in response.get_json()["message"]
    assert visitor.send("x" * limit).status_code == 201
    assert count(db, WebhookEvent) == 1


def test_a_huge_body_is_413_before_it_is_read(app, visitor, db):
    """A body over WIDGET_MAX_BODY_BYTES is refused without reading it."""
    visitor.start()
    body = json.dumps({"text": "hi", "padding": "x" * (app.config["WIDGET_MAX_BODY_BYTES"] + 10)})
    response = visitor.client.post(
        visitor.url("messages"), data=body, headers={**visitor.headers(), "Content-Type": "application/json"}
    )
    assert response.status_code == 413 and response.get_json()["error"] == "body_too_large"
    assert nothing_stored(db)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{not json", 400, "bad_json"),
        ("[1, 2]", 400, "bad_json"),
        (json.dumps({"text": "   "}), 422, "empty_message"),
        (json.dumps({"text": 42}), 422, "empty_message"),
        (json.dumps({"text": "hi", "client_id": "../../etc"}), 422, "bad_client_id"),
    ],
)
def test_malformed_messages_are_refused(visitor, db, body, status, code):
    """Malformed bodies get a 4xx with a stable error code, and nothing is stored."""
    visitor.start()
    response = visitor.client.post(
        visitor.url("messages"), data=body, headers={**visitor.headers(), "Content-Type": "application/json"}
    )
    assert response.status_code == status and response.get_json()["error"] == code
    assert nothing_stored(db)


def test_html_is_stored_and_returned_as_text(visitor, db):
    """Markup a visitor sends is kept verbatim as text; the widget and the inbox render it escaped."""
    visitor.start()
    payload = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    message = visitor.send(payload).get_json()["message"]
    assert message["text"] == payload
    assert db.session.scalar(select(Message.content)) == payload


# --- rate limits ----------------------------------------------------------------------------------------------------


@pytest.fixture
def limits_on(app, monkeypatch):
    monkeypatch.setitem(app.config, "RATELIMIT_ENABLED", True)
    return lambda **kw: [monkeypatch.setitem(app.config, k, v) for k, v in kw.items()]


def test_a_flooding_visitor_gets_429_and_the_extra_messages_are_not_stored(visitor, db, limits_on):
    """Per visitor: beyond the limit, 429 with Retry-After; what got through is stored, the rest is not."""
    limits_on(WIDGET_RATE_LIMIT_MESSAGES_VISITOR="3 per minute")
    visitor.start()
    statuses = [visitor.send(f"spam {i}").status_code for i in range(5)]
    assert statuses == [201, 201, 201, 429, 429]
    refused = visitor.send("one more")
    assert refused.get_json()["error"] == "rate_limited" and int(refused.headers["Retry-After"]) > 0
    assert refused.headers["Access-Control-Expose-Headers"] == "Retry-After"
    assert count(db, Message) == 3 and count(db, WebhookEvent) == 3


def test_the_per_widget_limit_holds_across_visitors(client, widget, db, limits_on):
    """Per widget: many visitors together cannot exceed the widget's limit."""
    limits_on(WIDGET_RATE_LIMIT_MESSAGES_WIDGET="4 per minute")
    statuses = []
    for n in range(3):
        v = WidgetVisitor(client, widget.widget.account_id)
        v.start()
        statuses += [v.send(f"visitor {n} a").status_code, v.send(f"visitor {n} b").status_code]
    assert statuses.count(201) == 4 and statuses.count(429) == 2
    assert count(db, Message) == 4


def test_minting_new_visitors_is_limited_per_ip(client, widget, limits_on):
    """New sessions per IP are limited, so nobody dodges the per-visitor limit by starting over."""
    limits_on(WIDGET_RATE_LIMIT_SESSIONS_IP="2 per minute")
    fresh = [WidgetVisitor(client, widget.widget.account_id).post("session", {}).status_code for _ in range(3)]
    assert fresh == [200, 200, 429]


def test_limits_are_off_when_rate_limiting_is_off(visitor, app, monkeypatch):
    """RATELIMIT_ENABLED=false turns the widget's limits off too (as it does Flask-Limiter's)."""
    monkeypatch.setitem(app.config, "RATELIMIT_ENABLED", False)
    monkeypatch.setitem(app.config, "WIDGET_RATE_LIMIT_MESSAGES_VISITOR", "1 per minute")
    visitor.start()
    assert [visitor.send(f"m{i}").status_code for i in range(3)] == [201, 201, 201]


# --- ratings and ending -----------------------------------------------------------------------------------------------


def test_the_visitor_rates_the_conversation_and_may_change_their_mind(visitor, db):
    """Thumbs up, then down with a comment: one rating on the conversation, the latest."""
    visitor.start()
    conversation_id = visitor.send("Thanks for the help").get_json()["conversation"]["id"]
    first = visitor.post("rating", {"scale": "thumbs", "score": 1})
    assert first.status_code == 201
    again = visitor.post("rating", {"scale": "thumbs", "score": 0, "comment": "Actually, slow answers."})
    assert again.status_code == 200
    (rating,) = db.session.scalars(select(Rating)).all()
    assert str(rating.conversation_id) == conversation_id
    assert (rating.scale, rating.score, rating.comment) == ("thumbs", 0, "Actually, slow answers.")
    assert again.get_json()["conversation"]["rating"] == {"scale": "thumbs", "score": 0}


@pytest.mark.parametrize(
    "body",
    [
        {"scale": "five", "score": 6},
        {"scale": "five", "score": 0},
        {"scale": "thumbs", "score": 2},
        {"scale": "thumbs", "score": True},
        {"scale": "stars", "score": 3},
        {"scale": "five", "score": "5"},
        {"scale": "five", "score": 5, "comment": "x" * 1001},
    ],
)
def test_bad_ratings_are_refused(visitor, db, body):
    """Scores outside the scale, unknown scales and overlong comments are 422; nothing is stored."""
    visitor.start()
    visitor.send("Hello")
    response = visitor.post("rating", body)
    assert response.status_code == 422
    assert count(db, Rating) == 0


def test_no_rating_without_a_conversation_and_none_for_someone_elses(client, widget, db):
    """A visitor cannot rate before writing, nor rate another visitor's conversation by id."""
    alice = WidgetVisitor(client, widget.widget.account_id)
    alice.start()
    alice_conv = alice.send("Hi").get_json()["conversation"]["id"]
    bob = WidgetVisitor(client, widget.widget.account_id)
    bob.start()
    assert bob.post("rating", {"score": 1}).status_code == 404
    assert bob.post("rating", {"score": 1, "conversation_id": alice_conv}).status_code == 404
    assert count(db, Rating) == 0


def test_ending_the_chat_resolves_it_and_the_next_message_starts_a_new_one(visitor, db):
    """ "End chat" resolves the conversation; writing again opens a fresh conversation."""
    visitor.start()
    first = visitor.send("Question one").get_json()["conversation"]["id"]
    ended = visitor.post("end", {})
    assert ended.status_code == 200 and ended.get_json()["conversation"]["status"] == "resolved"
    assert db.session.get(Conversation, uuid.UUID(first)).status == "resolved"
    second = visitor.send("A new question").get_json()["conversation"]["id"]
    assert second != first
    history = visitor.get("messages").get_json()
    assert [m["text"] for m in history["messages"]] == ["Question one", "A new question"]


def test_the_embed_script_is_served_for_any_site(client):
    """/widget.js is JavaScript, cacheable, loadable from any origin, and free of eval and inline handlers."""
    response = client.get("/widget.js")
    assert response.status_code == 200 and response.mimetype == "text/javascript"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "max-age=300" in response.headers["Cache-Control"]
    source = response.get_data(as_text=True)
    for forbidden in ("eval(", "new Function", "innerHTML", "insertAdjacentHTML", "document.write", "onclick="):
        assert forbidden not in source


def test_token_max_age_setting_exists(app):
    """The visitor token lives for months by default (returning visitors), the stream ticket for an hour."""
    assert app.config["WIDGET_VISITOR_TOKEN_MAX_AGE"] >= timedelta(days=30).total_seconds()
    assert app.config["WIDGET_STREAM_TICKET_MAX_AGE"] <= 3600
