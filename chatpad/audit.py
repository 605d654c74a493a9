"""The audit log: who did what to which account, token or customer's data."""

from __future__ import annotations

from typing import Any

from chatpad.extensions import db
from chatpad.models import AuditLog


def record_audit(
    action: str,
    *,
    organization_id: int | None,
    user_id: int | None = None,
    target: Any = None,
    detail: dict | None = None,
    ip: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
) -> AuditLog:
    """Add an audit entry to the session (the caller commits with the change it records).

    target is the row acted on; target_type and target_id name one that no longer exists (an erased contact).
    """
    entry = AuditLog(
        organization_id=organization_id,
        user_id=user_id,
        action=action,
        target_type=target_type or (type(target).__name__ if target is not None else None),
        target_id=target_id or (str(target.id) if target is not None and hasattr(target, "id") else None),
        detail=detail or {},
        ip=ip,
    )
    db.session.add(entry)
    return entry
