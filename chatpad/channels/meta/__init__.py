"""What Messenger and Instagram share: Meta's webhook signature and handshake, the webhook envelope, the Graph API
client and the classification of Graph errors. The facebook and instagram adapters are built on it."""

from __future__ import annotations

from .envelope import MessagingItem, iter_messaging, load_payload, parse_timestamp
from .errors import classify_graph_error
from .graph import GraphClient, appsecret_proof, get_graph_client
from .signature import sign_body, verify_handshake, verify_signature

__all__ = [
    "GraphClient",
    "MessagingItem",
    "appsecret_proof",
    "classify_graph_error",
    "get_graph_client",
    "iter_messaging",
    "load_payload",
    "parse_timestamp",
    "sign_body",
    "verify_handshake",
    "verify_signature",
]
