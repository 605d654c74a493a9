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

from sqlalchemy import or_, select

from chatpad.extensions import db
from chatpad.models import ROLES, User
from chatpad.models.org import new_session_token


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
