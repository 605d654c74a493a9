"""Webhook payloads fuzzed with hypothesis, for every channel: never a 500, never a half-written row.

Bodies are real fixtures with parts replaced by arbitrary JSON or removed, arbitrary JSON objects in the channel's
envelope, and arbitrary bytes — correctly signed, so they get past the signature check as a compromised or buggy
platform's would. Each is posted to the live app over HTTP (4xx or 200, never 5xx), and each stored event is then
processed by the real inbound job, which must end it processed, ignored or failed with a reason (never crash and
leave it for retries), and leave no contact without an identity and no conversation without a message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import exists, func, select
from twilio.request_validator import RequestValidator

from chatpad.channels import CHANNELS, get_channel
from chatpad.channels.errors import AnomalousPayloadError, UnsupportedEventError
from chatpad.channels.meta import sign_body
from chatpad.models import Contact, ContactIdentity, Conversation, Message, WebhookEvent
from chatpad.webhooks.views import WEBHOOK_CHANNELS

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TEST_ONLY_CHANNELS = {"loopback"}


def _meta_signer(body: bytes, config, url: str) -> dict[str, str]:
    return sign_body(body, config["META_APP_SECRET"])


# SMS (Twilio): signed with the connected account's Auth Token over the URL and the form's parameters.
SMS_ACCOUNT_SID = "ACb2a3c4d5e6f70819a2b3c4d5e6f70819"
SMS_TOKEN = "fuzz-auth-token-0123456789abcdef"


class _Form(dict):
    def getall(self, name):
        return self[name]


def _twilio_signer(body: bytes, config, url: str) -> dict[str, str]:
    params = _Form()
    for name, value in parse_qsl(body.decode(), keep_blank_values=True):
        params.setdefault(name, []).append(value)
    signature = RequestValidator(SMS_TOKEN).compute_signature(url, params)
    return {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}


# How each webhook channel's platform signs a delivery. A new webhook channel must add its signer here, so its
# endpoint is fuzzed with deliveries that pass verification.
SIGNERS: dict[str, Callable[[bytes, dict, str], dict[str, str]]] = {
    "facebook": _meta_signer,
    "instagram": _meta_signer,
    "sms": _twilio_signer,
    "whatsapp": _meta_signer,
}

ENVELOPES = {"facebook": "page", "instagram": "instagram", "whatsapp": "whatsapp_business_account"}


def _channels(webhook_only: bool) -> list[str]:
    keys = [k for k in CHANNELS if k not in TEST_ONLY_CHANNELS]
    return [k for k in keys if k in WEBHOOK_CHANNELS] if webhook_only else keys


def _fixtures(channel: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted((FIXTURES / channel).glob("*.json"))]


def _form_fixtures(channel: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted((FIXTURES / channel).glob("*.form"))]


# What names the account a form delivery is signed for: kept, so the fuzzed body still reaches verification's key.
FORM_KEYS = ("AccountSid", "To", "From")


@st.composite
def mutated_form(draw, fixtures: list[bytes]):
    """A real form body (SMS) with parameters removed, replaced by arbitrary text, or added; the account it names
    is kept (another account's body could not be signed with this one's token)."""
    pairs = parse_qsl(draw(st.sampled_from(fixtures)).decode(), keep_blank_values=True)
    for _ in range(draw(st.integers(1, 4))):
        choice = draw(st.integers(0, 2))
        free = [i for i, (name, _) in enumerate(pairs) if name not in FORM_KEYS]
        if choice == 0 and free:
            pairs.pop(draw(st.sampled_from(free)))
        elif choice == 1 and free:
            index = draw(st.sampled_from(free))
            pairs[index] = (pairs[index][0], draw(st.text(max_size=40)))
        else:
            pairs.append(
                (
                    draw(
                        st.sampled_from(
                            [
                                "NumMedia",
                                "MediaUrl0",
                                "MessageStatus",
                                "ErrorCode",
                                "Body",
                                "SmsStatus",
                                "MediaContentType0",
                                draw(st.text(max_size=8)),
                            ]
                        )
                    ),
                    draw(st.text(max_size=40)),
                )
            )
    return urlencode(pairs).encode()


def form_bodies(channel: str):
    arbitrary = st.dictionaries(st.text(max_size=12), st.text(max_size=30), max_size=6).map(
        lambda d: urlencode({**d, "AccountSid": SMS_ACCOUNT_SID, "To": "+19365550200"}).encode()
    )
    return st.one_of(mutated_form(_form_fixtures(channel)), arbitrary)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


@st.composite
def mutated(draw, fixtures: list[bytes]):
    """A real fixture with up to three of its parts replaced by arbitrary JSON, or removed."""
    data = json.loads(draw(st.sampled_from(fixtures)))
    for _ in range(draw(st.integers(1, 3))):
        node = data
        for _depth in range(draw(st.integers(0, 6))):  # walk down a random path
            keys = sorted(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            child = node[draw(st.sampled_from(keys))]
            if not (isinstance(child, dict | list) and child and draw(st.booleans())):
                break
            node = child
        keys = sorted(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            continue
        key = draw(st.sampled_from(keys))
        if isinstance(node, dict) and draw(st.booleans()):
            del node[key]
        else:
            node[key] = draw(json_values)
    return json.dumps(data).encode()


def bodies(channel: str):
    if _form_fixtures(channel):
        return form_bodies(channel)
    envelope = ENVELOPES.get(channel)
    shaped = st.fixed_dictionaries(
        {"object": st.just(envelope) if envelope else json_values, "entry": st.lists(json_values, max_size=3)}
    ).map(lambda d: json.dumps(d).encode())
    fixtures = _fixtures(channel)
    options = [shaped, st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode())]
    if fixtures:
        options.insert(0, mutated(fixtures))
    return st.one_of(*options)


def _account_ids(channel: str) -> set[str]:
    ids = set()
    for raw in _form_fixtures(channel):
        params = dict(parse_qsl(raw.decode()))
        for key in ("To", "From"):
            if params.get(key, "").startswith("+19365550"):
                ids.add(params[key])
    for raw in _fixtures(channel):
        for entry in json.loads(raw).get("entry") or []:
            if isinstance(entry, dict) and entry.get("id"):
                ids.add(str(entry["id"]))
    return ids


def _half_written(db) -> list[str]:
    """Rows a crash between two writes would leave: a contact with no identity, a conversation with no message."""
    db.session.expire_all()
    problems = []
    orphans = db.session.scalar(
        select(func.count())
        .select_from(Contact)
        .where(~exists(select(ContactIdentity.id).where(ContactIdentity.contact_id == Contact.id)))
    )
    if orphans:
        problems.append(f"{orphans} contact(s) without an identity")
    empty = db.session.scalar(
        select(func.count())
        .select_from(Conversation)
        .where(~exists(select(Message.id).where(Message.conversation_id == Conversation.id)))
    )
    if empty:
        problems.append(f"{empty} conversation(s) without a message")
    return problems


FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


@pytest.mark.slow
@pytest.mark.parametrize("channel", _channels(webhook_only=True))
def test_fuzzed_webhooks_never_500_and_never_half_write(app, db, make, live_server, channel):
    """Any signed body on /api/webhooks/<channel> is answered 200 or 4xx, and the worker ends every stored event
    processed, ignored or failed with its reason, without a half-written contact or conversation."""
    from jobs import set_app
    from jobs.inbound import process_event

    set_app(app)
    assert channel in SIGNERS, f"add how {channel} signs its webhooks to SIGNERS, so it is fuzzed"
    business = make.business()
    for account_id in sorted(_account_ids(channel)):
        extra = {"access_token": SMS_TOKEN, "meta": {"account_sid": SMS_ACCOUNT_SID}} if channel == "sms" else {}
        make.account(business.agent, channel, business.location, account_id=account_id, **extra)
    url = f"{live_server.url}/api/webhooks/{channel}"
    http = requests.Session()

    @FUZZ
    @given(body=bodies(channel))
    def check(body: bytes):
        before = db.session.scalar(select(func.coalesce(func.max(WebhookEvent.id), 0)))
        headers = {"Content-Type": "application/json", **SIGNERS[channel](body, app.config, url)}
        response = http.post(url, data=body, headers=headers, timeout=10)
        assert response.status_code < 500, (response.status_code, response.text, body)
        assert response.status_code in (200, 400, 413), (response.status_code, body)
        new = db.session.scalars(select(WebhookEvent.id).where(WebhookEvent.id > before)).all()
        assert len(new) == (1 if response.status_code == 200 else 0)
        for event_id in new:
            process_event(event_id)  # must not raise: a crash here would be retried forever, then lost
            db.session.expire_all()
            event = db.session.get(WebhookEvent, event_id)
            assert event.status in ("processed", "ignored", "failed"), (event.status, event.error, body)
            if event.status == "failed":
                assert event.error
        assert not _half_written(db), body

    check()


@pytest.mark.parametrize("channel", _channels(webhook_only=False))
def test_every_adapter_parses_or_refuses_any_body(channel):
    """Every channel's parse() turns any body into events, refuses it (AnomalousPayloadError) or declares it a kind
    it does not handle (UnsupportedEventError) — never another exception, which the inbound job could only retry."""
    adapter = get_channel(channel)

    @FUZZ
    @given(body=bodies(channel))
    def check(body: bytes):
        try:
            adapter.parse(body)
        except (AnomalousPayloadError, UnsupportedEventError):
            pass

    check()


# --- Every route, extreme input (issue 16 item 6) --------------------------------------------------------------------
#
# Every rule of app.url_map is requested with extreme values in its path, in every query argument a route of this
# product reads and in a form (or JSON) body: 20-digit and negative numbers, dates at the ends of the calendar, ids
# that are not UUIDs, JSON nested thousands deep. Each must be answered below 500. New routes are covered as they
# are added; a new argument name belongs in QUERY_ARGS.

QUERY_ARGS = (
    "page", "page_size", "sort", "desc", "search", "id", "agent", "location", "account", "conversation", "contact",
    "user", "start", "end", "days", "backfill_days", "cursor", "before", "after", "since", "limit", "channel",
    "status", "flt0_0", "flt1_0", "flt0_1", "q", "calendar", "flow", "provider", "state", "code", "login_hint",
    "next", "last_event_id", "rowid", "action", "url", "verify", "mode", "hub.mode", "hub.challenge",
)  # fmt: skip
EXTREMES = (
    "9" * 20, "-" + "9" * 20, "-1", "1e309", "nan", "9999-12-31", "0001-01-01", "10000-01-01", "not-a-uuid",
    "\x00", "%", "x" * 3000,
)  # fmt: skip
DATE_PAIRS = (("9999-12-30", "9999-12-31"), ("0001-01-01", "0001-01-02"), ("2026-02-30", "2026-13-01"))
DEEP = 5000
DEEP_BODIES = (
    b"[" * DEEP + b"]" * DEEP,
    b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    b'{"object":"page","entry":[' + b"[" * DEEP + b"]" * DEEP + b"]}",
)
# Long-lived (streams wait for events) or ending the session the sweep runs in.
SKIPPED_ENDPOINTS = {"inbox.events", "widget.events", "widget.wait", "auth.logout", "static", "admin.static"}


def _path_values(rule, real: dict[str, str]) -> list[dict[str, str]]:
    """Ways to fill a rule's variables: real ids (so the handler gets past its lookup) and extreme ones."""
    converters = rule._converters
    fills = [{}, {}, {}]
    for name in rule.arguments:
        kind = type(converters[name]).__name__
        if kind == "UUIDConverter":
            options = [
                real.get(name, real["uuid"]),
                "00000000-0000-0000-0000-000000000000",
                real.get(name, real["uuid"]),
            ]
        elif kind == "IntegerConverter":
            options = ["1", "9" * 20, "2147483648"]
        else:
            options = [real.get(name, "x"), "not-a-uuid", "9" * 20]
        for fill, option in zip(fills, options, strict=True):
            fill[name] = option
    unique = []
    for fill in fills:
        if fill not in unique:
            unique.append(fill)
    return unique


def _urls(app, real: dict[str, str], methods: set[str]):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint in SKIPPED_ENDPOINTS or not (rule.methods & methods):
            continue
        for values in _path_values(rule, real):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m, v=values: v[m.group(1)], rule.rule)
            yield rule, path


@pytest.fixture
def sweep(app, make, monkeypatch):
    """(signed-in client, anonymous client, real ids): an owner of a business with a widget, a conversation and
    a contact; CSRF off so form posts reach the code that reads their fields."""
    from tests.conftest import login
    from tests.plugins.widget import ORIGIN, make_widget

    biz = make.business()
    widget = make_widget(make, biz, [ORIGIN])
    contact = Contact(organization_id=biz.org.id, name="Jo")
    make.db.session.add(contact)
    make.db.session.flush()
    conversation = Conversation(
        organization_id=biz.org.id,
        agent_id=biz.agent.id,
        location_id=biz.location.id,
        social_account_id=biz.account.id,
        contact_id=contact.id,
        channel="facebook",
    )
    make.db.session.add(conversation)
    make.db.session.commit()
    client = app.test_client()
    assert login(client, biz.user.email).status_code == 302
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", False)
    real = {
        "uuid": str(biz.agent.id),
        "key": widget.account_id,
        "widget_id": str(widget.id),
        "account_id": str(biz.account.id),
        "agent_id": str(biz.agent.id),
        "location_id": str(biz.location.id),
        "conversation_id": str(conversation.id),
        "contact_id": str(contact.id),
        "provider": "google",
        "export_type": "csv",
        "kind": "facebook",
        "channel": "facebook",
    }
    headers = {"Origin": ORIGIN}
    return client, app.test_client(), real, headers


def _answer(client, method: str, path: str, **kwargs) -> int | str:
    try:
        return client.open(path, method=method, **kwargs).status_code
    except Exception as exc:  # noqa: BLE001 (TESTING propagates a view's exception: record it like a 500)
        return f"{type(exc).__name__}: {str(exc)[:120]}"


def _failed(code) -> bool:
    return not isinstance(code, int) or code >= 500


def test_extreme_query_arguments_never_500_on_any_route(sweep, app):
    """Every GET route, signed in and not, with every query argument set to each extreme value, and the
    analytics-style start/end pairs at the ends of the calendar: always below 500."""
    client, anonymous, real, headers = sweep
    failures = []
    for _rule, path in _urls(app, real, {"GET"}):
        cases = [dict.fromkeys(QUERY_ARGS, value) for value in EXTREMES]
        cases += [{"start": start, "end": end} for start, end in DATE_PAIRS]
        for args in cases:
            for who in (client, anonymous):
                code = _answer(who, "GET", path, query_string=args, headers=headers)
                if _failed(code):
                    failures.append((path, next(iter(args.values()))[:30], code))
    assert not failures, failures[:20]


def test_extreme_form_fields_never_500_on_any_route(sweep, app):
    """Every POST route with every field it might read (the query names, and the widget form's agent/location) set
    to an extreme value: a 4xx or the form again with its error, never a 500."""
    client, anonymous, real, headers = sweep
    names = (*QUERY_ARGS, "name", "email", "role", "text", "body", "site", "rating_scale", "port", "imap_port")
    failures = []
    for _rule, path in _urls(app, real, {"POST"}):
        for value in ("9" * 20, "not-a-uuid", "9999-12-31", "\x00"):
            for who in (client, anonymous):
                code = _answer(who, "POST", path, data=dict.fromkeys(names, value), headers=headers)
                if _failed(code):
                    failures.append((path, value[:30], code))
    assert not failures, failures[:20]


def test_deeply_nested_json_never_500_on_any_route(sweep, app):
    """JSON nested 5,000 deep, to every POST route (the widget's session API needs no token): 4xx, never the
    RecursionError's 500."""
    client, anonymous, real, headers = sweep
    failures = []
    for _rule, path in _urls(app, real, {"POST"}):
        for body in DEEP_BODIES:
            for who in (client, anonymous):
                code = _answer(who, "POST", path, data=body, headers={**headers, "Content-Type": "application/json"})
                if _failed(code):
                    failures.append((path, body[:20], code))
    assert not failures, failures[:20]


@pytest.mark.parametrize("channel", [c for c in _channels(webhook_only=True) if c in ENVELOPES])
def test_deeply_nested_json_on_a_signed_webhook_is_refused(app, make, client, channel):
    """A correctly signed delivery nested 5,000 deep: 400 (not JSON this product reads), nothing stored."""
    business = make.business()
    for account_id in sorted(_account_ids(channel)):
        make.account(business.agent, channel, business.location, account_id=account_id)
    url = f"/api/webhooks/{channel}"
    for body in DEEP_BODIES:
        body = body.replace(b'"page"', f'"{ENVELOPES[channel]}"'.encode())
        headers = {"Content-Type": "application/json", **SIGNERS[channel](body, app.config, f"http://localhost{url}")}
        response = client.post(url, data=body, headers=headers)
        assert response.status_code == 400, (response.status_code, body[:40])


@FUZZ
@given(
    value=st.one_of(
        st.integers(min_value=-(10**30), max_value=10**30).map(str),
        st.dates().map(lambda d: d.isoformat()),
        st.floats(allow_nan=True, allow_infinity=True).map(str),
        st.uuids().map(str),
        st.text(max_size=40),
    ),
    start=st.dates().map(lambda d: d.isoformat()),
    end=st.dates().map(lambda d: d.isoformat()),
)
def _fuzzed_admin_lists(client, value: str, start: str, end: str, failures: list) -> None:
    for path in ("/admin/analytics/", "/admin/analytics/export.csv", "/admin/inbox/", "/admin/users/", "/admin/audit/"):
        args = {**dict.fromkeys(("page", "page_size", "days", "location", "agent", "channel", "cursor"), value)}
        args.update(start=start, end=end)
        code = _answer(client, "GET", path, query_string=args)
        if _failed(code):
            failures.append((path, args, code))


def test_fuzzed_numbers_dates_and_ids_on_the_admin_lists(sweep):
    """Hypothesis: any integer, date, float, UUID or text in the list and analytics arguments, never a 500."""
    client, _anonymous, _real, _headers = sweep
    failures: list = []
    _fuzzed_admin_lists(client, failures=failures)
    assert not failures, failures[:10]
