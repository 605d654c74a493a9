"""One person, many channels: merging contacts by hand, and splitting them again.

Ingest (chatpad.pipeline) matches a new identity to an existing contact by email address or phone where a channel
proves one (a sender address on mail, a number on SMS); an address the customer only typed is a claim (claim_email):
it never matches or merges, it is offered to the team as a merge suggestion. When it cannot match (a Facebook PSID
and an email address of the same person, or a typed address), a person in the inbox merges the two contacts here:

- merge_contacts(keep, other): other's identities and conversations move to keep; other stays as a hidden row with
  merged_into_id = keep. Each moved identity and conversation remembers where it came from (original_contact_id).
- split_contact(keep, other): the reverse: whatever came from other (identities, conversations, and conversations
  that arrived since through other's identities) goes back, and other is visible again.

Contacts merged into a contact that is merged again follow it (merges stay one level deep), so any of them can be
split off later. Every merge and split is audited.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import and_, func, or_, select, update

from chatpad.audit import record_audit
from chatpad.extensions import db
from chatpad.models import Contact, ContactIdentity, Conversation, Scope, SocialAccount, utcnow


class ContactMergeError(ValueError):
    """The merge or split asked for cannot be done (the message says why, for the person who asked)."""


def get_contact(scope: Scope | int, contact_id) -> Contact | None:
    """A contact in this scope (an organization, or a person's locations of it) by id; None for one outside it or a
    malformed id."""
    try:
        ident = contact_id if isinstance(contact_id, uuid.UUID) else uuid.UUID(str(contact_id))
    except (ValueError, TypeError):
        return None
    return db.session.scalar(select(Contact).where(Contact.id == ident, Scope.coerce(scope).where(Contact)))


def resolve_merged(contact: Contact) -> Contact:
    """The contact a merged contact now lives in (itself when not merged). For ingest: a match by email found on a
    merged contact belongs to the contact it was merged into."""
    if contact.merged_into_id is None:
        return contact
    target = db.session.get(Contact, contact.merged_into_id)
    return target if target is not None and target.organization_id == contact.organization_id else contact


def match_contact(org_id: int, email: str | None, phone: str | None) -> Contact | None:
    """Cross-channel threading: the same email address or phone number in one organization is one person. A match
    on a contact merged by hand into another is that other contact."""
    if email:
        found = db.session.scalar(
            select(Contact).where(Contact.organization_id == org_id, Contact.email == email.strip().lower()).limit(1)
        )
        if found is not None:
            return resolve_merged(found)
    if phone:
        found = db.session.scalar(
            select(Contact).where(Contact.organization_id == org_id, Contact.phone == phone).limit(1)
        )
        return resolve_merged(found) if found is not None else None
    return None


def claim_email(identity: ContactIdentity, email: str) -> None:
    """A customer typed an email address (a widget visitor, before or part-way through a chat). A typed address is
    only a claim: anyone can type anyone's address. It never matches, merges or fills the contact's email (the key
    that proven identities match on, and through which the AI reads a person's other conversations); it is kept on
    the identity, where the team sees it and merge_candidates offers the contact who has it as a suggestion ("same
    email") for a person to merge. The caller commits."""
    identity.profile = {**(identity.profile or {}), "email": email.strip().lower()}


def merged_contacts(contact: Contact) -> list[Contact]:
    """The contacts merged into this one, oldest merge first."""
    return list(
        db.session.scalars(
            select(Contact).where(Contact.merged_into_id == contact.id).order_by(Contact.merged_at, Contact.id)
        )
    )


def merge_contacts(
    keep: Contact, other: Contact, *, user_id: int | None = None, ip: str | None = None, reason: str | None = None
) -> int:
    """Move everything of `other` into `keep`; return how many conversations moved. The caller commits. reason: why
    a merge nobody asked for was made (kept in the audit log)."""
    if keep.organization_id != other.organization_id:
        raise ContactMergeError("Those contacts belong to different organizations.")
    if keep.id == other.id:
        raise ContactMergeError("A contact cannot be merged with itself.")
    if keep.merged_into_id is not None:
        raise ContactMergeError(f"{keep.display_name} was merged into another contact; merge into that one instead.")
    if other.merged_into_id is not None:
        raise ContactMergeError(f"{other.display_name} is already merged into another contact.")

    now = utcnow()
    # Remember the first owner only: after A→B→C an identity of A still splits back to A.
    db.session.execute(
        update(ContactIdentity)
        .where(ContactIdentity.contact_id == other.id)
        .values(contact_id=keep.id, original_contact_id=func.coalesce(ContactIdentity.original_contact_id, other.id))
        .execution_options(synchronize_session=False)
    )
    moved = db.session.execute(
        update(Conversation)
        .where(Conversation.contact_id == other.id)
        .values(
            contact_id=keep.id,
            original_contact_id=func.coalesce(Conversation.original_contact_id, other.id),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    # Contacts merged earlier into `other` now hang off `keep` directly.
    db.session.execute(
        update(Contact)
        .where(Contact.merged_into_id == other.id)
        .values(merged_into_id=keep.id)
        .execution_options(synchronize_session=False)
    )
    other.merged_into_id = keep.id
    other.merged_at = now
    record_audit(
        "contact.merge",
        organization_id=keep.organization_id,
        user_id=user_id,
        target=keep,
        detail={
            "merged": str(other.id),
            "merged_name": other.display_name,
            "conversations": moved,
            **({"automatic": reason} if reason else {}),
        },
        ip=ip,
    )
    db.session.flush()
    db.session.expire_all()
    return moved


def split_contact(keep: Contact, other: Contact, *, user_id: int | None = None, ip: str | None = None) -> int:
    """Undo merging `other` into `keep`; return how many conversations went back. The caller commits."""
    if other.merged_into_id != keep.id:
        raise ContactMergeError(f"{other.display_name} is not merged into {keep.display_name}.")
    identities = db.session.scalars(
        select(ContactIdentity).where(
            ContactIdentity.contact_id == keep.id, ContactIdentity.original_contact_id == other.id
        )
    ).all()
    # Conversations that arrived after the merge through other's identities carry no original_contact_id; on Meta
    # and the widget their thread_key is the customer's id on the account, which identifies them.
    arrived_since = [
        and_(
            Conversation.original_contact_id.is_(None),
            Conversation.social_account_id == identity.social_account_id,
            Conversation.thread_key == identity.external_id,
        )
        for identity in identities
        if identity.social_account_id is not None
    ]
    moved = db.session.execute(
        update(Conversation)
        .where(
            Conversation.contact_id == keep.id,
            or_(Conversation.original_contact_id == other.id, *arrived_since),
        )
        .values(contact_id=other.id, original_contact_id=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.execute(
        update(ContactIdentity)
        .where(ContactIdentity.id.in_([i.id for i in identities]))
        .values(contact_id=other.id)
        .execution_options(synchronize_session=False)
    )
    other.merged_into_id = None
    other.merged_at = None
    record_audit(
        "contact.split",
        organization_id=keep.organization_id,
        user_id=user_id,
        target=keep,
        detail={"split": str(other.id), "split_name": other.display_name, "conversations": moved},
        ip=ip,
    )
    db.session.flush()
    db.session.expire_all()
    return moved


@dataclass
class MergeCandidate:
    contact: Contact
    reason: str  # why it is suggested: "same email", "same phone", "same name", or "matches your search"
    places: list[str] = field(default_factory=list)  # "Facebook · Forge Page · Forge at the Lake": where it wrote


_CHANNEL_NAMES = {"sms": "SMS", "whatsapp": "WhatsApp"}


def _with_places(found: list[MergeCandidate], scope: Scope) -> list[MergeCandidate]:
    """Fill each candidate's places: the channel, account and location of each of its identities the scope may see
    (four "Walker Reyes (same name)" are told apart by where each wrote from)."""
    if not found:
        return found
    by_id = {c.contact.id: c for c in found}
    rows = db.session.execute(
        select(ContactIdentity.contact_id, SocialAccount)
        .join(SocialAccount, SocialAccount.id == ContactIdentity.social_account_id)
        .where(ContactIdentity.contact_id.in_(list(by_id)), scope.where(SocialAccount))
        .order_by(ContactIdentity.created_at, ContactIdentity.id)
    ).all()
    for contact_id, account in rows:
        channel = _CHANNEL_NAMES.get(account.channel, account.channel.title())
        place = f"{channel} · {account.account_name or account.account_id} · {account.location_label}"
        if place not in by_id[contact_id].places:
            by_id[contact_id].places.append(place)
    return found


def merge_candidates(
    contact: Contact, q: str | None = None, limit: int = 10, *, scope: Scope | None = None
) -> list[MergeCandidate]:
    """Contacts that may be the same person: same email, phone or name; or those matching a search. Within scope
    (a person limited to locations is offered only the contacts of their locations)."""
    base = select(Contact).where(
        (scope or Scope(contact.organization_id)).where(Contact),
        Contact.organization_id == contact.organization_id,
        Contact.id != contact.id,
        Contact.merged_into_id.is_(None),
    )
    found: dict[uuid.UUID, MergeCandidate] = {}
    if q and q.strip():
        pattern = "%" + q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = base.where(
            or_(
                Contact.name.ilike(pattern, escape="\\"),
                Contact.email.ilike(pattern, escape="\\"),
                Contact.phone.ilike(pattern, escape="\\"),
            )
        )
        for row in db.session.scalars(stmt.order_by(Contact.name, Contact.id).limit(limit)):
            found.setdefault(row.id, MergeCandidate(row, "matches your search"))
        return _with_places(list(found.values()), scope or Scope(contact.organization_id))
    emails = {e.lower() for e in _addresses(contact, "email") + _claimed(contact, "email")}
    phones = {p for p in _addresses(contact, "phone")}
    checks = []
    if emails:
        checks.append(("same email", func.lower(Contact.email).in_(emails)))
    if phones:
        checks.append(("same phone", Contact.phone.in_(phones)))
    if contact.name and len(contact.name.strip()) >= 3:
        checks.append(("same name", func.lower(Contact.name) == contact.name.strip().lower()))
    for reason, clause in checks:
        for row in db.session.scalars(base.where(clause).order_by(Contact.created_at).limit(limit)):
            found.setdefault(row.id, MergeCandidate(row, reason))
    return _with_places(list(found.values())[:limit], scope or Scope(contact.organization_id))


def _addresses(contact: Contact, kind: str) -> list[str]:
    """The contact's own email or phone plus those of contacts merged into it."""
    values = [getattr(contact, kind)] + [getattr(c, kind) for c in merged_contacts(contact)]
    return [v for v in values if v]


def _claimed(contact: Contact, kind: str) -> list[str]:
    """Addresses the customer only typed (kept on its identities' profiles; see claim_email)."""
    identities = db.session.scalars(select(ContactIdentity).where(ContactIdentity.contact_id == contact.id))
    return [str(i.profile[kind]) for i in identities if isinstance(i.profile, dict) and i.profile.get(kind)]


def contact_details(contact: Contact) -> dict[str, list[str]]:
    """Every email address and phone number known for this person, merged contacts included."""
    return {"emails": _addresses(contact, "email"), "phones": _addresses(contact, "phone")}
