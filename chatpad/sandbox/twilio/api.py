"""The sandbox's Twilio REST API: /twilio/2010-04-01/… (api.twilio.com) and /twilio-messaging/v1/…
(messaging.twilio.com), with HTTP Basic auth, Twilio's error shape and the injected failures of the world's rules.

Every request is recorded without its password (world.requests), so tests assert on what the client really sent.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from chatpad.channels.phone import maybe_e164
from chatpad.channels.sms.segments import MAX_BODY, count_segments

from .world import INVALID, Message, TwilioWorld, sid

bp = Blueprint("sandbox_twilio_api", __name__, url_prefix="/twilio/2010-04-01")
messaging = Blueprint("sandbox_twilio_messaging", __name__, url_prefix="/twilio-messaging/v1")


class TwilioError(Exception):
    def __init__(self, code: int, message: str, status: int = 400, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.code, self.message, self.status, self.headers = code, message, status, headers or {}

    def response(self) -> Response:
        body = {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }
        response = jsonify(body)
        response.status_code = self.status
        response.headers.update(self.headers)
        return response


def world() -> TwilioWorld:
    return current_app.extensions["sandbox.twilio.world"]


def dispatcher():
    return current_app.extensions["sandbox.twilio.dispatcher"]


@bp.errorhandler(TwilioError)
@messaging.errorhandler(TwilioError)
def _error(exc: TwilioError):
    return exc.response()


def _record_and_check(account_sid: str) -> Any:
    """Log the request, apply an injected failure, and authenticate it (20003 otherwise). Returns the account."""
    w = world()
    auth = request.authorization
    record = w.record_request(
        method=request.method,
        path=request.path,
        form={k: (v if len(v) > 1 else v[0]) for k, v in request.form.lists()},
        auth_user=auth.username if auth else None,
    )
    request.environ["sandbox.record"] = record
    rule = w.take_failure(request.method, request.path)
    if rule is not None:
        record.failure = rule.kind
        if rule.kind == "timeout":
            time.sleep(rule.delay or 30.0)
        elif rule.kind == "server_error":
            raise TwilioError(20500, "An internal server error has occurred", 500)
        elif rule.kind == "too_many_requests":
            raise TwilioError(20429, "Too Many Requests", 429, {"Retry-After": str(rule.retry_after)})
        elif rule.kind == "queue_full":
            raise TwilioError(21611, "This 'From' number has exceeded the maximum number of queued messages")
        elif rule.kind == "invalid_to":
            raise TwilioError(21211, f"The 'To' number {request.form.get('To')} is not a valid phone number.")
        elif rule.kind == "auth":
            raise TwilioError(20003, "Authenticate", 401)
    account = w.authenticate(auth.username if auth else None, auth.password if auth else None, account_sid)
    if account is None:
        raise TwilioError(20003, "Authenticate", 401, {"WWW-Authenticate": 'Basic realm="Twilio API"'})
    return account


@bp.after_request
@messaging.after_request
def _log_response(response: Response) -> Response:
    record = request.environ.get("sandbox.record")
    if record is not None:
        record.status = response.status_code
        record.response = response.get_json(silent=True) if response.is_json else None
    return response


def _not_found(what: str) -> TwilioError:
    return TwilioError(20404, f"The requested resource {what} was not found", 404)


# --- accounts -------------------------------------------------------------------------------------------------------


@bp.get("/Accounts/<account_sid>.json")
def account(account_sid: str):
    acct = _record_and_check(account_sid)
    return jsonify(
        sid=acct.sid,
        friendly_name=acct.friendly_name,
        status=acct.status,
        type="Full",
        uri=f"/2010-04-01/Accounts/{acct.sid}.json",
    )


# --- messages -------------------------------------------------------------------------------------------------------


@bp.post("/Accounts/<account_sid>/Messages.json")
def create_message(account_sid: str):
    acct = _record_and_check(account_sid)
    w = world()
    form = request.form
    to_raw = form.get("To")
    if not to_raw:
        raise TwilioError(21604, "A 'To' phone number is required.")
    to = maybe_e164(to_raw)
    if to is None or to == INVALID:
        raise TwilioError(21211, f"The 'To' number {to_raw} is not a valid phone number.")
    service_sid = form.get("MessagingServiceSid")
    service = w.services.get(service_sid) if service_sid else None
    if service_sid and (service is None or service.account_sid != acct.sid):
        raise TwilioError(21701, f"The Messaging Service Sid {service_sid} is invalid.")
    sender = form.get("From")
    number = w.number_by_phone(maybe_e164(sender) or "") if sender else None
    if sender and (
        number is None or number.account_sid != acct.sid or (service and number.sid not in service.number_sids)
    ):
        raise TwilioError(
            21606,
            f"The From phone number {sender} is not a valid, SMS-capable inbound phone number or short code "
            "for your account.",
        )
    if not sender and service is None:
        raise TwilioError(21603, "A 'From' phone number is required.")
    if number is None and service is not None:
        number = w.numbers.get(service.number_sids[0]) if service.number_sids else None  # the pool picks a sender
    if number is None:
        raise TwilioError(21606, "The Messaging Service has no phone number to send from.")
    body = form.get("Body", "")
    media_urls = form.getlist("MediaUrl")
    if not body and not media_urls:
        raise TwilioError(21602, "Message body is required.")
    if len(body) > MAX_BODY:
        raise TwilioError(21617, "The concatenated message body exceeds the 1600 character limit.")
    if len(media_urls) > 10 or any(not u.lower().startswith(("http://", "https://")) for u in media_urls):
        raise TwilioError(21620, "Invalid media URL(s)")
    callback = form.get("StatusCallback")
    if callback and "_" in (callback.split("//", 1)[-1].split("/", 1)[0]):
        raise TwilioError(21609, "Invalid StatusCallback url: underscores are not allowed in the hostname.")
    if w.opted_out(number, to):
        raise TwilioError(21610, "Attempt to send to unsubscribed recipient")
    message = Message(
        sid=sid("SM" if not media_urls else "MM"),
        account_sid=acct.sid,
        direction="outbound-api",
        from_=number.phone_number,
        to=to,
        body=body,
        status="queued" if sender else "accepted",
        created_at=time.time(),
        media=[{"url": u, "content_type": None} for u in media_urls],
        messaging_service_sid=service.sid if service else None,
        status_callback=callback,
        num_segments=count_segments(body).segments,
    )
    with w.lock:
        w.messages[message.sid] = message
    dispatcher().status_callbacks(message, number)
    response = jsonify(message.public())
    response.status_code = 201
    return response


@bp.get("/Accounts/<account_sid>/Messages/<message_sid>.json")
def get_message(account_sid: str, message_sid: str):
    _record_and_check(account_sid)
    message = world().messages.get(message_sid)
    if message is None or message.account_sid != account_sid:
        raise _not_found(request.path.removeprefix("/twilio"))
    return jsonify(message.public())


@bp.get("/Accounts/<account_sid>/Messages/<message_sid>/Media/<media_sid>")
def media(account_sid: str, message_sid: str, media_sid: str):
    """A media file of a message; with "Enforce HTTP Auth on Media URLs" (on by default here), only with the
    account's credentials."""
    w = world()
    rule = w.take_failure("GET", request.path)
    if rule is not None and rule.kind == "media_unavailable":
        w.record_request(method="GET", path=request.path, form={}, auth_user=None, status=503, failure=rule.kind)
        return Response("Service Unavailable", status=503, mimetype="text/plain")
    if w.settings.get("enforce_media_auth"):
        _record_and_check(account_sid)
    else:
        w.record_request(method="GET", path=request.path, form={}, auth_user=None)
    item = w.media.get(media_sid)
    if item is None:
        raise _not_found(request.path.removeprefix("/twilio"))
    content_type, data = item
    return Response(data, mimetype=content_type)


# --- numbers --------------------------------------------------------------------------------------------------------


@bp.get("/Accounts/<account_sid>/IncomingPhoneNumbers.json")
def list_numbers(account_sid: str):
    _record_and_check(account_sid)
    w = world()
    size = max(1, min(int(request.args.get("PageSize", 50)), 1000))
    page = max(0, int(request.args.get("Page", 0)))
    wanted = request.args.get("PhoneNumber")
    with w.lock:
        rows = sorted((n for n in w.numbers.values() if n.account_sid == account_sid), key=lambda n: n.phone_number)
    if wanted:
        rows = [n for n in rows if n.phone_number == maybe_e164(wanted)]
    chunk = rows[page * size : (page + 1) * size]
    base = f"/2010-04-01/Accounts/{account_sid}/IncomingPhoneNumbers.json"
    more = (page + 1) * size < len(rows)
    return jsonify(
        incoming_phone_numbers=[n.public() for n in chunk],
        page=page,
        page_size=size,
        start=page * size,
        end=page * size + len(chunk) - 1,
        uri=f"{base}?PageSize={size}&Page={page}",
        first_page_uri=f"{base}?PageSize={size}&Page=0",
        next_page_uri=f"{base}?PageSize={size}&Page={page + 1}" if more else None,
        previous_page_uri=f"{base}?PageSize={size}&Page={page - 1}" if page else None,
    )


def _number(account_sid: str, number_sid: str):
    number = world().numbers.get(number_sid)
    if number is None or number.account_sid != account_sid:
        raise _not_found(request.path.removeprefix("/twilio"))
    return number


@bp.get("/Accounts/<account_sid>/IncomingPhoneNumbers/<number_sid>.json")
def get_number(account_sid: str, number_sid: str):
    _record_and_check(account_sid)
    return jsonify(_number(account_sid, number_sid).public())


@bp.post("/Accounts/<account_sid>/IncomingPhoneNumbers/<number_sid>.json")
def update_number(account_sid: str, number_sid: str):
    _record_and_check(account_sid)
    number = _number(account_sid, number_sid)
    form = request.form
    for url_field in ("SmsUrl", "StatusCallback"):
        value = form.get(url_field)
        if value and not value.lower().startswith(("http://", "https://")):
            raise TwilioError(21502, f"{url_field} is not a valid URL: {value}")
    with world().lock:
        if "SmsUrl" in form:
            number.sms_url = form["SmsUrl"] or None
        if "SmsMethod" in form:
            number.sms_method = form["SmsMethod"]
        if "StatusCallback" in form:
            number.status_callback = form["StatusCallback"] or None
        if "FriendlyName" in form:
            number.friendly_name = form["FriendlyName"]
    return jsonify(number.public())


# --- Messaging Services (messaging.twilio.com) ------------------------------------------------------------------------


def _service(service_sid: str, account_sid: str):
    service = world().services.get(service_sid)
    if service is None or service.account_sid != account_sid:
        raise _not_found(request.path.removeprefix("/twilio-messaging"))
    return service


def _account_from_auth():
    """The messaging host has no account in its path: the Basic auth user (an AC sid or an API key's) says."""
    auth = request.authorization
    user = auth.username if auth else ""
    w = world()
    account_sid = user if user in w.accounts else next((a.sid for a in w.accounts.values() if user in a.api_keys), "")
    return _record_and_check(account_sid)


def _meta(key: str, url: str, count: int) -> dict[str, Any]:
    return {
        "page": 0,
        "page_size": max(count, 50),
        "first_page_url": url,
        "previous_page_url": None,
        "url": url,
        "next_page_url": None,
        "key": key,
    }


@messaging.get("/Services")
def list_services():
    acct = _account_from_auth()
    rows = [s.public() for s in world().services.values() if s.account_sid == acct.sid]
    return jsonify(services=rows, meta=_meta("services", request.url, len(rows)))


@messaging.get("/Services/<service_sid>")
def get_service(service_sid: str):
    acct = _account_from_auth()
    return jsonify(_service(service_sid, acct.sid).public())


@messaging.post("/Services/<service_sid>")
def update_service(service_sid: str):
    acct = _account_from_auth()
    service = _service(service_sid, acct.sid)
    form = request.form
    with world().lock:
        if "InboundRequestUrl" in form:
            service.inbound_request_url = form["InboundRequestUrl"] or None
        if "StatusCallback" in form:
            service.status_callback = form["StatusCallback"] or None
        if "UseInboundWebhookOnNumber" in form:
            service.use_inbound_webhook_on_number = form["UseInboundWebhookOnNumber"].lower() == "true"
        if "FriendlyName" in form:
            service.friendly_name = form["FriendlyName"]
    return jsonify(service.public())


@messaging.get("/Services/<service_sid>/PhoneNumbers")
def service_numbers(service_sid: str):
    acct = _account_from_auth()
    service = _service(service_sid, acct.sid)
    w = world()
    rows = [
        {
            "sid": n.sid,
            "account_sid": n.account_sid,
            "service_sid": service.sid,
            "phone_number": n.phone_number,
            "country_code": "US",
            "capabilities": ["SMS", "MMS"],
        }
        for n in (w.numbers.get(s) for s in service.number_sids)
        if n is not None
    ]
    return jsonify(phone_numbers=rows, meta=_meta("phone_numbers", request.url, len(rows)))
