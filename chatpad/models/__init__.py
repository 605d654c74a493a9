"""The data model (docs/architecture.md §3). Every row a user can reach is scoped by organization."""

from .account import ACCOUNT_STATUSES, CHANNELS, SocialAccount
from .agent import KNOWLEDGE_KINDS, Agent, KnowledgeItem, Location, agent_ids_of
from .base import utcnow
from .conversation import (
    CONVERSATION_STATUSES,
    MESSAGE_STATUSES,
    SENDER_TYPES,
    Attachment,
    Contact,
    ContactIdentity,
    Conversation,
    Message,
    Rating,
)
from .events import EVENT_STATUSES, AuditLog, Notification, WebhookEvent
from .mail import EmailSyncState
from .org import ROLES, Organization, User

__all__ = [
    "ACCOUNT_STATUSES",
    "CHANNELS",
    "CONVERSATION_STATUSES",
    "EVENT_STATUSES",
    "KNOWLEDGE_KINDS",
    "MESSAGE_STATUSES",
    "ROLES",
    "SENDER_TYPES",
    "Agent",
    "Attachment",
    "AuditLog",
    "Contact",
    "EmailSyncState",
    "ContactIdentity",
    "Conversation",
    "KnowledgeItem",
    "Location",
    "Message",
    "Notification",
    "Organization",
    "Rating",
    "SocialAccount",
    "User",
    "WebhookEvent",
    "agent_ids_of",
    "utcnow",
]
