"""The message pipeline every channel shares (docs/pipeline.md)."""

from .ingest import IngestResult, ingest, route
from .replies import ReplyRefusedError, queue_reply, resume_account, schedule_ai_reply, send_messages
from .takeover import hand_back, take_over

__all__ = [
    "IngestResult",
    "ReplyRefusedError",
    "hand_back",
    "ingest",
    "queue_reply",
    "resume_account",
    "route",
    "schedule_ai_reply",
    "send_messages",
    "take_over",
]
