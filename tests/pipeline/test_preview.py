"""The inbox list's one-line preview of a conversation's latest message."""

from chatpad.pipeline.preview import PREVIEW_CHARS, message_preview


def test_an_emails_greeting_line_gives_way_to_what_the_message_says():
    """An AI email reply opens with "Hi Mike,": the preview shows the first line that says something."""
    assert message_preview("Hi Mike,\n\nLot 14 is still available — $79,900.\n\nBest,\nForge") == (
        "Lot 14 is still available — $79,900."
    )
    assert message_preview("Good morning Ana!\nWe open at 9.") == "We open at 9."
    assert message_preview("Dear Sarah,\r\n\r\nYes, pets are welcome.") == "Yes, pets are welcome."


def test_a_message_that_is_only_a_greeting_or_starts_with_more_keeps_its_first_line():
    assert message_preview("Hi!") == "Hi!"
    assert message_preview("Hi do you have 3 bedroom homes\nThanks") == "Hi do you have 3 bedroom homes"
    assert message_preview("Hello,\nAre pets allowed?") == "Are pets allowed?"
    assert message_preview("Hi, is lot 14 still available?\nThanks") == "Hi, is lot 14 still available?"
    assert message_preview("Hello there, I saw your listing on Facebook and wanted to ask") == (
        "Hello there, I saw your listing on Facebook and wanted to ask"
    )


def test_attachments_and_long_lines():
    assert message_preview("", [{"type": "image", "url": "https://x.test/a.jpg"}]) == "[image]"
    assert message_preview(None) == ""
    assert len(message_preview("x" * 500)) == PREVIEW_CHARS
