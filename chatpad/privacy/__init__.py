"""GDPR/CCPA data requests: export everything about one customer, erase them everywhere, delete old conversations
(retention), and Meta's data deletion callback. docs/privacy.md explains what is stored and what each does.

- export_contact(contact, actor=…) → a ZIP an admin can hand over (JSON, readable transcripts, the files).
- erase_contact(contact, actor=…) → messages, identities, conversations, attachment files, media links, raw webhook
  copies and notifications naming them deleted; anonymous per-day counts kept (chatpad.privacy.stats).
- apply_retention(org) / run_retention() → conversations idle longer than the organization's retention_days.
- Meta's callback: POST /api/privacy/meta-data-deletion (chatpad.privacy.meta, chatpad.privacy.views).

Every one is scoped to one organization and written to the audit log.
"""

from .erase import ErasureSummary, erase_contact, erase_identities, preview_erasure
from .export import ExportResult, export_contact
from .retention import RetentionResult, apply_retention, run_retention
from .stats import anonymous_activity

__all__ = [
    "ErasureSummary",
    "ExportResult",
    "RetentionResult",
    "anonymous_activity",
    "apply_retention",
    "erase_contact",
    "erase_identities",
    "export_contact",
    "preview_erasure",
    "run_retention",
]
