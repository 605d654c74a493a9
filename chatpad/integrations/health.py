"""The token lifecycle: a daily health check of every Meta account, and refresh before expiry.

Health (Facebook Pages, Instagram accounts): debug_token with the app token (asked through the batch API, so the
Page token is in a POST body, never a URL) says whether the token is valid, until
when, and which permissions it still holds; GET subscribed_apps says whether Meta still delivers the Page's webhooks
(Meta unsubscribes an app whose webhook endpoint failed for too long, platform-reference.md §A.3) and a missing
subscription is renewed on the spot. Classification is by Meta's code and subcode, never by message text: 190 and the
permission codes mean "reconnect" (chatpad.notify.account_needs_reauth: the row, the banner, the email, the audit
entry, once per outage); transient codes mean "ask again later". An account that is healthy again is marked so and
what waited for it is sent.

Refresh: Instagram Login's 60-day tokens are renewed INSTAGRAM_REFRESH_BEFORE_DAYS before they expire
(GET graph.instagram.com/refresh_access_token, the token in the Authorization header). Page tokens read with a
long-lived user token never expire, so Facebook Pages and Page-linked Instagram accounts need no refresh. Google and
Microsoft inboxes are refreshed by the email channel's own job (jobs.mail.refresh_mail_tokens), which uses the same
account_needs_reauth.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from flask import current_app
from sqlalchemy import update

from chatpad.audit import record_audit
from chatpad.channels.errors import AuthExpiredError, SendError, TransientSendError
from chatpad.channels.meta import classify_graph_error
from chatpad.extensions import db
from chatpad.models import Notification, SocialAccount, utcnow
from chatpad.notify import account_needs_reauth, notify_team

from . import meta

log = logging.getLogger("chatpad.integrations.health")

# Permissions an account needs while it runs (pages_show_list only matters while connecting).
RUNTIME_SCOPES = {
    "facebook": ("pages_messaging", "pages_manage_metadata"),
    "instagram": ("instagram_basic", "instagram_manage_messages", "pages_manage_metadata"),
}
# Why a token died, by debug_token's subcode (https://developers.facebook.com/docs/graph-api/guides/error-handling).
DEAD_TOKEN_REASONS = {
    458: "ChatPad was removed from the Page's business integrations, or the app was removed from the Facebook account "
    "that connected it.",
    459: "The Facebook account that connected it is locked until its owner logs in to facebook.com.",
    460: "The password of the Facebook account that connected it changed, or Facebook ended that session.",
    463: "Its access token expired.",
    464: "The Facebook account that connected it is not confirmed.",
    467: "Its access token is no longer valid.",
}


@dataclass
class HealthResult:
    """ok | needs_reauth | error | unknown (could not tell; asked again later) | skipped."""

    status: str
    reason: str | None = None
    recovered: bool = False
    resubscribed: bool = False


def _page_id(account: SocialAccount) -> str | None:
    return account.account_id if account.channel == "facebook" else (account.meta or {}).get("page_id")


def _record(account: SocialAccount, **values: Any) -> None:
    meta_data = dict(account.meta or {})
    meta_data["health"] = {**(meta_data.get("health") or {}), "checked_at": utcnow().isoformat(), **values}
    account.meta = meta_data


def dead_token_reason(code: int | None, subcode: int | None, message: str | None = None) -> str:
    """The admin's sentence for a dead Meta token, chosen by code/subcode."""
    base = DEAD_TOKEN_REASONS.get(subcode or 0, "Facebook says its access token is no longer valid.")
    return f"{base} (Meta error {code}{'/' + str(subcode) if subcode else ''})"


def check_account(account: SocialAccount) -> HealthResult:
    """Check one account now and act on the result (mark, alert, resubscribe, recover). Commits."""
    if account.status == "disconnected" or not account.is_active:
        return HealthResult("skipped", "disconnected or paused")
    if account.channel not in RUNTIME_SCOPES:
        return HealthResult("skipped", f"{account.channel} accounts are checked by their channel's own jobs")
    result = _check_meta(account)
    if result.status == "needs_reauth":
        account_needs_reauth(account, result.reason or "Facebook refused its token.")
    elif result.status == "error":
        if account.status != "needs_reauth":
            first = account.status != "error"
            account.status = "error"
            account.last_error = result.reason
            if first:
                notify_team(
                    account.organization_id,
                    kind="account_error",
                    title=f"{account.account_name} has a problem",
                    body=f"{result.reason} Open Integrations to reconnect it.",
                    account=account,
                )
    elif result.status == "ok" and account.status in ("needs_reauth", "error"):
        previous = account.status
        account.mark_healthy()
        db.session.execute(
            update(Notification)
            .where(Notification.social_account_id == account.id, Notification.read_at.is_(None))
            .values(read_at=utcnow())
        )
        record_audit(
            "account.recovered",
            organization_id=account.organization_id,
            target=account,
            detail={"channel": account.channel, "previous_status": previous},
        )
        result.recovered = True
    db.session.commit()
    if result.recovered:
        from chatpad.pipeline import resume_account

        resume_account(account)
    return result


def _check_meta(account: SocialAccount) -> HealthResult:
    token = account.access_token
    if not token:
        return HealthResult("needs_reauth", "ChatPad holds no access token for it.")
    try:
        info = meta.debug_token(token)
    except TransientSendError as exc:
        log.info("health of %s unknown for now: %s", account.id, exc.reason)
        return HealthResult("unknown", exc.reason)
    except SendError as exc:
        # An error about the call itself (the app token, the app's settings), not about this account's token.
        log.error("debug_token refused for account %s: %s (code %s)", account.id, exc.reason, exc.code)
        return HealthResult("unknown", exc.reason)
    _record(account, valid=info.is_valid, expires_at=info.expires_at, scopes=info.scopes)
    if not info.is_valid:
        exc = classify_graph_error(
            {"code": info.error_code or 190, "error_subcode": info.error_subcode, "message": info.error_message},
            400,
            platform="Facebook",
        )
        if isinstance(exc, AuthExpiredError):
            return HealthResult("needs_reauth", dead_token_reason(exc.code, exc.subcode))
        if isinstance(exc, TransientSendError):
            return HealthResult("unknown", exc.reason)
        return HealthResult("needs_reauth", f"Facebook says its token is not valid ({exc.reason}).")
    if info.expires_at:
        account.token_expires_at = datetime.fromtimestamp(info.expires_at, UTC)
    missing = [s for s in RUNTIME_SCOPES[account.channel] if s not in info.scopes]
    if missing:
        return HealthResult(
            "needs_reauth",
            f"The permission{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"{'were' if len(missing) > 1 else 'was'} removed in Facebook. Reconnect and keep "
            f"{'them' if len(missing) > 1 else 'it'} switched on.",
        )
    return _check_subscription(account, token)


def _check_subscription(account: SocialAccount, token: str) -> HealthResult:
    page_id = _page_id(account)
    if not page_id:
        return HealthResult("ok")
    wanted = set(meta.MESSENGER_FIELDS) if account.channel == "facebook" else set()
    try:
        fields = meta.subscribed_fields(page_id, token)
    except TransientSendError as exc:
        return HealthResult("unknown", exc.reason)
    except AuthExpiredError as exc:
        return HealthResult("needs_reauth", f"Facebook refused to show the Page's webhooks: {exc.reason}")
    except SendError as exc:
        return HealthResult("error", f"Could not read the Page's webhook subscription: {exc.reason}")
    if fields and wanted <= fields:
        _record(account, subscribed_fields=sorted(fields))
        return HealthResult("ok")
    # Meta dropped the subscription (or some fields): renew it, keeping what is there.
    renew = tuple(sorted(fields | wanted)) if wanted else tuple(sorted(fields)) or meta.INSTAGRAM_PAGE_FIELDS
    try:
        meta.subscribe(page_id, token, renew)
    except meta.ConnectError as exc:
        if exc.transient:
            return HealthResult("unknown", exc.what)
        return HealthResult(
            "error", f"Meta stopped sending its messages and renewing the subscription failed: {exc.what}"
        )
    _record(account, subscribed_fields=list(renew), resubscribed_at=utcnow().isoformat())
    record_audit(
        "account.resubscribed",
        organization_id=account.organization_id,
        target=account,
        detail={"page_id": page_id, "fields": list(renew), "had": sorted(fields)},
    )
    log.warning("renewed the webhook subscription of page %s (had %s)", page_id, sorted(fields))
    return HealthResult("ok", resubscribed=True)


# --- refresh -----------------------------------------------------------------------------------------------------


def needs_refresh(account: SocialAccount, now: datetime | None = None) -> bool:
    """An Instagram Login token within INSTAGRAM_REFRESH_BEFORE_DAYS of its expiry."""
    if account.channel != "instagram" or (account.meta or {}).get("login") != "instagram":
        return False
    if account.token_expires_at is None or not account.access_token:
        return False
    days = int(current_app.config.get("INSTAGRAM_REFRESH_BEFORE_DAYS", 10))
    return account.token_expires_at <= (now or utcnow()) + timedelta(days=days)


def refresh_instagram_token(account: SocialAccount) -> str:
    """Renew an Instagram Login long-lived token: "refreshed", "needs_reauth" or "retry". Commits.

    https://developers.facebook.com/docs/instagram-platform/reference/refresh_access_token
    """
    base = current_app.config["INSTAGRAM_GRAPH_URL"].rstrip("/")
    timeout = float(current_app.config.get("PLATFORM_HTTP_TIMEOUT", 10))
    try:
        # The token as a Bearer header, never ?access_token= (docs/security.md: no token in a URL).
        response = requests.get(
            f"{base}/refresh_access_token",
            params={"grant_type": "ig_refresh_token"},
            headers={"Authorization": f"Bearer {account.access_token}"},
            timeout=timeout,
        )
        body = response.json()
    except (requests.RequestException, ValueError) as exc:
        log.info("instagram refresh of %s failed for now: %s", account.id, type(exc).__name__)
        return "retry"
    if response.ok and isinstance(body, dict) and body.get("access_token"):
        account.access_token = body["access_token"]
        expires_in = int(body.get("expires_in") or 0)
        account.token_expires_at = utcnow() + timedelta(seconds=expires_in) if expires_in else None
        _record(account, refreshed_at=utcnow().isoformat())
        record_audit(
            "account.token_refreshed",
            organization_id=account.organization_id,
            target=account,
            detail={"channel": account.channel, "expires_in": expires_in},
        )
        db.session.commit()
        return "refreshed"
    error = body.get("error") if isinstance(body, dict) else None
    exc = classify_graph_error(error, response.status_code, response.headers, platform="Instagram")
    if isinstance(exc, TransientSendError):
        return "retry"
    if isinstance(exc, AuthExpiredError) and exc.code == 190:
        account_needs_reauth(account, dead_token_reason(exc.code, exc.subcode))
        db.session.commit()
        return "needs_reauth"
    # Refused for another reason (e.g. not yet 24 hours old): try again at the next run, before it is too late.
    log.warning("instagram refresh of %s refused: %s", account.id, exc.reason)
    return "retry"
