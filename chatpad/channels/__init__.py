"""The channel layer: one adapter per channel key, listed in one registry.

The key names everything: the adapter package chatpad/channels/<key>/, the webhook /api/webhooks/<key>, the
fixtures tests/fixtures/<key>/ and the tests. Adapters are imported lazily so the web process loads only what it uses.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module

from .base import Channel, SendContext

# key -> "module:Class". Keys are the seed's channel values.
CHANNELS: dict[str, str] = {
    "widget": "chatpad.channels.widget:WidgetChannel",
    "facebook": "chatpad.channels.facebook.adapter:FacebookChannel",
    "instagram": "chatpad.channels.instagram.adapter:InstagramChannel",
    "email": "chatpad.channels.email.adapter:EmailChannel",
    "sms": "chatpad.channels.sms.adapter:SmsChannel",
    "whatsapp": "chatpad.channels.whatsapp.adapter:WhatsAppChannel",
}


@cache
def get_channel(key: str) -> Channel:
    """The adapter instance for a channel key; KeyError for an unknown key."""
    target = CHANNELS[key]
    module_name, _, class_name = target.partition(":")
    return getattr(import_module(module_name), class_name)()


__all__ = [
    "CHANNELS",
    "Channel",
    "SendContext",
    "get_channel",
]
