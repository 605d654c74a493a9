"""Sign-in: hashed passwords, throttled failures, an audit entry for each outcome."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import func, select

from chatpad.audit import record_audit
from chatpad.extensions import db, limiter, login_manager
from chatpad.models import User, utcnow
from chatpad.models.org import user_for_session, verify_sign_in
from chatpad.queue import enqueue
from chatpad.security import hit_limit, safe_local_path
from chatpad.users import InvitationError, accept_invitation, end_sessions, open_invitation

from . import bp
from .forms import AcceptInvitationForm, ForgotPasswordForm, LoginForm, ResetPasswordForm
from .reset import ResetLinkError, minutes_valid, user_for_reset
from .throttle import clear_failures, record_failure, seconds_locked


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """The signed-in user of a session or remember-me cookie, if its session token is still theirs."""
    return user_for_session(session_id)


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths: an open redirect after sign-in is a phishing tool."""
    return safe_local_path(target) or url_for("admin.index")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("30 per minute", methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("admin.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        ip = request.remote_addr or "unknown"
        wait = seconds_locked(email, ip)
        if wait:
            minutes = max(1, round(wait / 60))
            flash(f"Too many failed sign-ins. Try again in {minutes} minute{'s' if minutes != 1 else ''}.", "error")
            return render_template("auth/login.html", form=form), 429
        user = db.session.scalar(select(User).where(func.lower(User.email) == email))
        if verify_sign_in(user, form.password.data):
            clear_failures(email)
            login_user(user, remember=form.remember.data)
            user.last_login_at = utcnow()
            record_audit("auth.sign_in", organization_id=user.organization_id, user_id=user.id, ip=ip)
            db.session.commit()
            return redirect(_safe_next(request.args.get("next")))
        record_failure(email, ip)
        if user:
            record_audit("auth.sign_in_failed", organization_id=user.organization_id, user_id=user.id, ip=ip)
            db.session.commit()
        flash("Wrong email or password.", "error")
        status = 401
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    record_audit(
        "auth.sign_out", organization_id=current_user.organization_id, user_id=current_user.id, ip=request.remote_addr
    )
    # A copied session or remember-me cookie must not outlive signing out (issue 16 item 4): every one of this
    # person's cookies stops loading, on every device.
    end_sessions(current_user)
    db.session.commit()
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/invite/<token>", methods=["GET", "POST"])
@limiter.limit("30 per minute", methods=["POST"])
def accept_invite(token: str):
    """Join an organization from the link an invitation mailed (issue 16 item 8): choose a password, be signed in."""
    if len(token) > 100:
        return render_template("auth/invite.html", form=None, error="This invitation link is not valid."), 404
    try:
        invitation = open_invitation(token)
    except InvitationError as problem:
        return render_template("auth/invite.html", form=None, error=str(problem)), 404
    form = AcceptInvitationForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = accept_invitation(
                invitation, name=(form.name.data or "").strip() or None, password=form.password.data
            )
        except InvitationError as problem:
            db.session.rollback()
            return render_template("auth/invite.html", form=None, error=str(problem)), 409
        db.session.flush()
        record_audit(
            "auth.invitation_accepted",
            organization_id=user.organization_id,
            user_id=user.id,
            target=invitation,
            ip=request.remote_addr,
        )
        logout_user()
        login_user(user)
        user.last_login_at = utcnow()
        db.session.commit()
        flash(f"Welcome to {invitation.organization.name}.", "info")
        return redirect(url_for("admin.index"))
    if request.method == "POST":
        status = 400
    return render_template("auth/invite.html", form=form, invitation=invitation, error=None), status


def _mail_note() -> str | None:
    """Where the mail goes, said the same for every address: no mail server at all, or (in development) which."""
    url = current_app.config.get("ALERT_SMTP_URL")
    if not url:
        return (
            "No mail server is set on this ChatPad (ALERT_SMTP_URL), so no email can be sent: ask your administrator "
            "to set your password."
        )
    if current_app.config.get("ENV_NAME") in ("development", "test"):
        parts = urlsplit(url)
        return f"Development: ChatPad's mail goes to the server at {parts.hostname}:{parts.port or 587}."
    return None


@bp.route("/forgot", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def forgot_password():
    """Forgot password: the same answer whether or not the address has an account (no enumeration); the lookup and
    the mail are a job's."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        # A few mails an hour to one address at most, so the form cannot be used to flood someone's inbox.
        if current_app.config.get("ALERT_SMTP_URL") and hit_limit("password-reset", email, "3 per hour"):
            enqueue("mail", "jobs.passwords.email_password_reset", email)
        return render_template("auth/forgot.html", form=None, sent_to=email, minutes=minutes_valid(), note=_mail_note())
    status = 400 if request.method == "POST" else 200
    return render_template("auth/forgot.html", form=form, sent_to=None, note=None), status


@bp.route("/reset/<token>", methods=["GET", "POST"])
@limiter.limit("30 per minute", methods=["POST"])
def reset_password(token: str):
    """Set a new password from a reset link; the new session token the change draws ends the link and every
    session."""
    try:
        user = user_for_reset(token) if len(token) <= 300 else None
        if user is None:
            raise ResetLinkError("This link is not valid. Ask for a new one from the sign-in page.")
    except ResetLinkError as problem:
        return render_template("auth/reset.html", form=None, error=str(problem)), 404
    form = ResetPasswordForm()
    if form.validate_on_submit():
        user.set_password(form.password.data)
        end_sessions(user)
        record_audit(
            "auth.password_reset", organization_id=user.organization_id, user_id=user.id, ip=request.remote_addr
        )
        db.session.commit()
        clear_failures(user.email.lower())
        logout_user()
        flash("Your password is set. Sign in with it.", "info")
        return redirect(url_for("auth.login"))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/reset.html", form=form, user=user, error=None), status


@bp.route("/")
def home():
    return redirect(url_for("admin.index") if current_user.is_authenticated else url_for("auth.login"))
