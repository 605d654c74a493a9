"""Who may change whom: the one rule every path that creates, edits or removes users goes through (the admin's
Users form, the CLI), and ending a person's sessions.

Owners are managed only by owners (issue 16 item 3): only an owner creates, edits, changes the password of, demotes,
deactivates or deletes an owner, or makes anyone an owner. The operator at the server's shell (the CLI, actor None)
counts as an owner. And an organization always keeps an active owner: its last one can't be demoted, deactivated or
deleted, whoever tries.

Sessions (issue 16 item 4): every session and remember-me cookie carries the user's session token (User.get_id);
a new token ends them all. The model draws one when a password, role or active flag changes; end_sessions draws one
on sign-out.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import timedelta

from flask import current_app
from sqlalchemy import event, func, or_, select

from chatpad.extensions import db
from chatpad.models import INVITATION_DAYS, ROLES, Invitation, Location, User, utcnow
from chatpad.models.org import invitation_token_hash, new_session_token
from chatpad.queue import enqueue, job_id
from chatpad.team import set_locations


class UserChangeRefused(ValueError):
    """A change to a user that the rules above refuse; str() is the message for the person who tried."""


def _owners_and_stored(user: User) -> tuple[int, tuple[str, bool] | None]:
    """How many other active owners the organization has, and the user's role and active flag as stored (before
    this change; None for a new user). The organization's owners and the user's row are locked, in id order, until
    the caller commits: two owners demoting each other at once can't leave none (the second waits, then counts)."""
    if user.id is None:
        return 0, None
    with db.session.no_autoflush:
        rows = db.session.execute(
            select(User.id, User.role, User.active)
            .where(User.organization_id == user.organization_id, or_(User.role == "owner", User.id == user.id))
            .order_by(User.id)
            .with_for_update()
        ).all()
    stored = next(((row.role, bool(row.active)) for row in rows if row.id == user.id), None)
    others = sum(1 for row in rows if row.id != user.id and row.role == "owner" and row.active)
    return others, stored


def check_user_change(actor: User | None, user: User, *, deleting: bool = False) -> None:
    """Raise UserChangeRefused unless ``actor`` (None: the operator's CLI) may make this change to ``user``: create
    it (a new row), save its edited fields (compared with the stored row), or delete it. Call before the commit."""
    other_owners, stored = _owners_and_stored(user)
    was_owner = stored is not None and stored[0] == "owner"
    becomes_owner = not deleting and user.role == "owner"
    # Editing oneself, the actor is this very row, already holding the new values: go by the stored role.
    actor_role = stored[0] if actor is not None and stored is not None and actor.id == user.id else None
    actor_is_owner = actor is None or (actor_role or actor.role) == "owner"
    if (was_owner or becomes_owner) and not actor_is_owner:
        if was_owner:
            raise UserChangeRefused("Only an owner can change or remove an owner.")
        raise UserChangeRefused("Only an owner can make someone an owner.")
    if was_owner and stored[1]:
        removed = deleting or user.role != "owner" or not user.active
        if removed and other_owners == 0:
            raise UserChangeRefused(
                "This is the organization's last owner: make someone else an owner first, then change or remove "
                "this one."
            )


def roles_offered(actor: User) -> list[str]:
    """The roles a person may give someone: an admin is not offered "owner"."""
    return [role for role in ROLES if role != "owner" or actor.role == "owner"]


def end_sessions(user: User) -> None:
    """End every session and remember-me cookie of this user (a new session token). The caller commits."""
    user.session_token = new_session_token()


# --- invitations (issue 16 item 8) -------------------------------------------------------------------------------
#
# Addresses are unique across ChatPad (one sign-in form, no organization to pick), so an address another
# organization uses can't join this one. Saying so to the admin would tell them that the address has an account
# somewhere. So people are added by invitation: the admin's answer is "Invitation sent" whatever the address, and
# only the mail to that address says whether it can join (chatpad.models.org.Invitation, jobs/alerts.py).


class InvitationError(ValueError):
    """An invitation link that is unknown, used or expired; str() says which, for the person who opened it."""


def create_invitation(
    actor: User,
    email: str,
    *,
    role: str,
    name: str | None = None,
    location_ids: Iterable[uuid.UUID] = (),
) -> Invitation:
    """Invite ``email`` to the actor's organization (the caller commits; the mail goes after the commit). Refused:
    a role the actor may not give, locations for anyone but an agent, an address already in the actor's own
    organization (they can see that list anyway), no mail server to send it with."""
    email = email.strip().lower()
    if role not in roles_offered(actor):
        raise UserChangeRefused("Only an owner can make someone an owner.")
    location_ids = [str(i) for i in location_ids]
    if location_ids and role != "agent":
        raise UserChangeRefused("Only agents can be limited to locations; owners and admins manage everything.")
    with db.session.no_autoflush:
        member = db.session.scalar(
            select(User.id).where(User.organization_id == actor.organization_id, func.lower(User.email) == email)
        )
    if member:
        raise UserChangeRefused("That address is already a member of your organization.")
    if not current_app.config.get("ALERT_SMTP_URL"):
        raise UserChangeRefused(
            "Invitations are sent by email, and no mail server is set (ALERT_SMTP_URL). The operator can add "
            "people with `flask chatpad create-user`."
        )
    invitation = Invitation(
        organization_id=actor.organization_id,
        email=email,
        name=name or None,
        role=role,
        location_ids=location_ids,
        invited_by_id=actor.id,
        expires_at=utcnow() + timedelta(days=INVITATION_DAYS),
    )
    db.session.add(invitation)
    db.session.flush()
    _mail_after_commit(invitation.id)
    return invitation


def _mail_after_commit(invitation_id: int) -> None:
    session = db.session()

    @event.listens_for(session, "after_commit", once=True)
    def _enqueue(_session) -> None:
        enqueue("mail", "jobs.alerts.email_invitation", invitation_id, job_id=job_id("invitation", invitation_id))


def open_invitation(token: str) -> Invitation:
    """The invitation a link's token names, if it can still be accepted; InvitationError otherwise."""
    invitation = db.session.scalar(select(Invitation).where(Invitation.token_hash == invitation_token_hash(token)))
    if invitation is None:
        raise InvitationError("This invitation link is not valid. Ask for a new invitation.")
    if invitation.accepted_at is not None:
        raise InvitationError("This invitation has been used. Sign in instead.")
    if invitation.expires_at <= utcnow():
        raise InvitationError("This invitation has expired. Ask for a new invitation.")
    _check_inviter(invitation)
    return invitation


def _check_inviter(invitation: Invitation) -> None:
    """An invitation is worth what its sender may still do: one sent by someone since removed, deactivated, moved
    out of the organization or demoted below the role it gives is void (an admin's invitations die with their
    rights)."""
    inviter = invitation.invited_by
    if (
        inviter is None
        or not inviter.active
        or inviter.organization_id != invitation.organization_id
        or inviter.role not in ("owner", "admin")
        or invitation.role not in roles_offered(inviter)
    ):
        raise InvitationError("This invitation is no longer valid. Ask for a new invitation.")


def accept_invitation(invitation: Invitation, *, name: str | None, password: str) -> User:
    """The invited person joins: a user of the invitation's organization and role, with their own password. The
    caller commits. InvitationError if the address has an account already (told to whoever holds the mailbox)."""
    db.session.refresh(invitation, with_for_update=True)  # two submits of one link: the second waits, then sees it used
    if invitation.accepted_at is not None:
        raise InvitationError("This invitation has been used. Sign in instead.")
    with db.session.no_autoflush:
        taken = db.session.scalar(select(User.id).where(func.lower(User.email) == invitation.email))
    if taken:
        raise InvitationError(
            "This address already has a ChatPad account. Sign in, or ask for an invitation to another address."
        )
    user = User(
        organization_id=invitation.organization_id,
        email=invitation.email,
        name=name or invitation.name,
        role=invitation.role,
    )
    user.set_password(password)
    _check_inviter(invitation)
    if invitation.location_ids:
        # Only the locations that still exist: one deleted since the invitation drops out (a limited user whose
        # last location is gone sees nothing, never everything: chatpad.models.scope).
        wanted = [uuid.UUID(i) for i in invitation.location_ids]
        kept = db.session.scalars(
            select(Location.id).where(Location.tenant_clause(invitation.organization_id), Location.id.in_(wanted))
        ).all()
        set_locations(user, kept)
    invitation.accepted_at = utcnow()
    db.session.add(user)
    return user
