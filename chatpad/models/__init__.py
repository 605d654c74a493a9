"""The data model (docs/architecture.md §3). Every row a user can reach is scoped by organization."""

from .account import ACCOUNT_STATUSES, CHANNEL_LABELS, CHANNELS, SocialAccount, channel_label
from .agent import KNOWLEDGE_KINDS, Agent, KnowledgeItem, Location, agent_ids_of
from .base import utcnow
from .booking import (
    ACTIVE_BOOKING_STATUSES,
    BOOKING_STATUSES,
    CALENDAR_PROVIDER_LABELS,
    CALENDAR_PROVIDERS,
    Booking,
    Calendar,
    TourType,
)
from .conversation import (
    CONVERSATION_STATUSES,
    MESSAGE_STATUSES,
    SENDER_TYPES,
    Attachment,
    Contact,
    ContactIdentity,
    Conversation,
    Message,
    MessageTemplate,
    Rating,
    latest_customer_message,
)
from .events import EVENT_STATUSES, AuditLog, Notification, WebhookEvent
from .inbox import CannedReply, ConversationLabel, ConversationNote
from .mail import EmailSyncState
from .org import INVITATION_DAYS, ROLES, Invitation, LocationMember, Organization, User
from .privacy import (
    ACTIVITY_COUNTERS,
    ANSWERED,
    AUTOMATIC,
    DELETION_REQUEST_STATUSES,
    REPLIERS,
    AnonymousActivity,
    DataDeletionRequest,
)
from .scope import Scope

__all__ = [
    "ACTIVE_BOOKING_STATUSES",
    "BOOKING_STATUSES",
    "CALENDAR_PROVIDERS",
    "CALENDAR_PROVIDER_LABELS",
    "Booking",
    "Calendar",
    "TourType",
    "ACCOUNT_STATUSES",
    "ACTIVITY_COUNTERS",
    "CHANNELS",
    "CHANNEL_LABELS",
    "channel_label",
    "CONVERSATION_STATUSES",
    "DELETION_REQUEST_STATUSES",
    "EVENT_STATUSES",
    "KNOWLEDGE_KINDS",
    "MESSAGE_STATUSES",
    "ROLES",
    "SENDER_TYPES",
    "Agent",
    "ANSWERED",
    "AUTOMATIC",
    "REPLIERS",
    "AnonymousActivity",
    "Attachment",
    "AuditLog",
    "Contact",
    "ContactIdentity",
    "Conversation",
    "CannedReply",
    "ConversationLabel",
    "ConversationNote",
    "DataDeletionRequest",
    "EmailSyncState",
    "KnowledgeItem",
    "Location",
    "LocationMember",
    "Message",
    "MessageTemplate",
    "Notification",
    "Organization",
    "Rating",
    "Scope",
    "SocialAccount",
    "User",
    "Invitation",
    "INVITATION_DAYS",
    "WebhookEvent",
    "agent_ids_of",
    "latest_customer_message",
    "utcnow",
]
