"""The unified inbox (issue 7): one list of conversations from every channel, the conversation view with human
takeover, replies, notes and contact merging, live updates, notifications, and analytics by channel and location."""

from __future__ import annotations

from datetime import datetime

from flask import Flask
from flask_admin import Admin
from flask_login import current_user

from chatpad.models import channel_label, utcnow


def reltime(when: datetime | None, now: datetime | None = None) -> str:
    """'just now', '5 min ago', '3 h ago', 'yesterday', 'Mar 4', 'Mar 4, 2025' (UTC)."""
    if when is None:
        return ""
    now = now or utcnow()
    seconds = (now - when).total_seconds()
    if seconds < 45:
        return "just now"
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    if seconds < 2 * 86400:
        return "yesterday"
    if when.year == now.year:
        return f"{when:%b} {when.day}"
    return f"{when:%b} {when.day}, {when.year}"


def init_inbox(admin: Admin, app: Flask) -> None:
    """Add Inbox and Analytics to the admin's top menu, and the template helpers their pages use."""
    from .analytics import format_duration
    from .views import AnalyticsView, InboxView, unread_notifications

    admin.add_view(InboxView(name="Inbox", endpoint="inbox", url="/admin/inbox"))
    admin.add_view(AnalyticsView(name="Analytics", endpoint="analytics", url="/admin/analytics"))
    app.jinja_env.filters["reltime"] = reltime
    app.jinja_env.filters["duration"] = format_duration
    app.jinja_env.filters["duration_since"] = lambda when: format_duration((utcnow() - when).total_seconds())
    app.jinja_env.filters["channel_label"] = channel_label

    @app.context_processor
    def _bell():
        def unread_count() -> int:
            if not current_user.is_authenticated:
                return 0
            from chatpad.admin.views import current_scope

            return unread_notifications(current_scope(), current_user.id)

        return {"unread_notification_count": unread_count}
