"""The web widget channel: a chat launcher a business embeds on its own site with one script tag.

adapter.py (WidgetChannel) parses visitor messages and delivers replies; settings.py holds a widget's allowed
origins and appearance; tokens.py the signed visitor token. The visitor's HTTP API, the event stream and the admin
page live in chatpad/widget/. Docs: docs/channels/widget.md.
"""

from .adapter import WidgetChannel

__all__ = ["WidgetChannel"]
