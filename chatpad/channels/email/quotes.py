"""Cutting quoted history and signatures from what the AI reads (platform-reference.md §D.6).

Plain text goes through mail-parser-reply (Gmail's "On … wrote:", Outlook's From:/Sent: block, "-----Original
Message-----", "> " lines, "-- " signatures, "Sent from my iPhone", in several languages). HTML first loses the
quote containers mail clients mark, then is converted to text and cut the same way. The full body is always kept.
"""

from __future__ import annotations

import re

from mailparser_reply import EmailReplyParser

from chatpad.html import html_to_text

LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "sv", "da", "pl", "cs"]
_parser = EmailReplyParser(languages=LANGUAGES)

# Containers that hold the quoted original in HTML replies. Gmail: div.gmail_quote; Apple Mail and Thunderbird:
# blockquote[type=cite]; Thunderbird's header line: div.moz-cite-prefix; Yahoo: div.yahoo_quoted. Outlook (web and
# desktop) marks where the quoted part starts with #divRplyFwdMsg or #appendonsend, or an <hr id="stopSpelling">
# (Outlook.com); everything from there on is the original. The Outlook markers are not documented by Microsoft
# (platform-reference.md §D.6, unconfirmed); the text pass below catches their From:/Sent: block anyway.
_QUOTE_XPATH = (
    "//div[contains(concat(' ', normalize-space(@class), ' '), ' gmail_quote ')]"
    " | //blockquote[@type='cite']"
    " | //div[contains(concat(' ', normalize-space(@class), ' '), ' moz-cite-prefix ')]"
    " | //div[contains(concat(' ', normalize-space(@class), ' '), ' yahoo_quoted ')]"
    " | //div[contains(concat(' ', normalize-space(@class), ' '), ' gmail_signature ')]"
)
_CUT_FROM_XPATH = "//*[@id='divRplyFwdMsg' or @id='appendonsend' or @id='stopSpelling' or @name='_MailEndCompose']"

_SIG_DELIMITER = re.compile(r"^-- ?$", re.MULTILINE)
_QUOTED_LINE = re.compile(r"^\s*>.*$", re.MULTILINE)


def strip_reply(text: str) -> str:
    """The new part of a reply: no quoted history, no signature. The whole text when nothing is left."""
    text = text.replace("\r\n", "\n").strip()
    if not text:
        return ""
    try:
        message = _parser.read(text)
        reply = message.replies[0].body if message.replies else (message.latest_reply or "")
    except Exception:  # the parser's regexes on pathological input: keep the text rather than lose the message
        reply = text
    match = _SIG_DELIMITER.search(reply)
    if match:
        reply = reply[: match.start()]
    reply = _QUOTED_LINE.sub("", reply)
    reply = re.sub(r"\n{3,}", "\n\n", reply).strip()
    return reply or text


def reply_from_html(html: str) -> str:
    """Text of an HTML reply without the quoted original (HTML-only mail)."""
    from lxml import etree
    from lxml import html as lxml_html

    try:
        doc = lxml_html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return html_to_text(html)
    for node in doc.xpath(_QUOTE_XPATH):
        node.drop_tree()
    for marker in doc.xpath(_CUT_FROM_XPATH):
        _drop_from(marker)
    return html_to_text(lxml_html.tostring(doc, encoding="unicode"))


def _drop_from(node) -> None:
    """Remove node and everything after it in document order (what follows an Outlook reply marker)."""
    current = node
    while current is not None and current.tag not in ("body", "html"):
        parent = current.getparent()
        for sibling in list(current.itersiblings()):
            sibling.drop_tree()
        if current is node:
            current.drop_tree()
        current = parent
