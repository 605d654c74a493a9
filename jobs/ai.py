"""AI jobs that run on the ai queue.

answer_conversation is the AI half of the reply job on its own: it composes the reply and returns it without
storing or sending anything. The pipeline's jobs.replies.generate_reply does the full job (compose, take over on
handoff, queue the reply); this one is for trying a provider against real conversations (`rq enqueue`, benchmarks).
"""

from __future__ import annotations

import uuid

from jobs import app_context


def answer_conversation(conversation_id: str) -> dict | None:
    """Compose the AI's reply to a conversation's latest message(s); None if the conversation is gone."""
    from chatpad.ai import compose_reply
    from chatpad.extensions import db
    from chatpad.models import Conversation

    with app_context():
        conversation = db.session.get(Conversation, uuid.UUID(str(conversation_id)))
        if conversation is None:
            return None
        reply = compose_reply(conversation)
        return {
            "text": reply.text,
            "quick_replies": [q.title for q in reply.quick_replies],
            "handoff": reply.handoff,
            "provider": reply.extra.get("provider"),
        }
