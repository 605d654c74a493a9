"""The booking flow's reading of a message (chatpad/ai/booking_flow.py): the details a customer gives, and whether
they ask to visit, move or cancel. Pure."""

import pytest

from chatpad.ai.booking_flow import parse_details, wants_cancel, wants_visit
from chatpad.ai.booking_tools import wants_move


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ada Lovelace, ada@example.com", {"name": "Ada Lovelace", "email": "ada@example.com"}),
        ("I'm Ada and my number is (512) 555-0199", {"name": "Ada", "phone": "+15125550199"}),
        ("my name is jane doe", {"name": "Jane Doe"}),
        ("Ada Lovelace", {"name": "Ada Lovelace"}),
        ("jane.doe@example.com", {"email": "jane.doe@example.com"}),
        # Questions asked while the flow waits for a name are not names.
        ("What's your phone number?", {}),
        ("do you allow dogs", {}),
        ("sounds good", {}),
    ],
)
def test_details_a_customer_gives(text, expected):
    assert parse_details(text, need_name=True) == expected


def test_a_name_is_not_read_when_it_is_known():
    assert parse_details("Ada Lovelace, ada@example.com", need_name=False) == {"email": "ada@example.com"}


@pytest.mark.parametrize(
    ("text", "visit", "move", "cancel"),
    [
        ("Can I see it Saturday at 11?", True, False, False),
        ("Can we move it to 3?", False, True, False),
        ("cancel my tour", True, False, True),
        ("I can't make it, please cancel", False, False, True),
        ("Could we reschedule to Friday?", False, True, False),
        ("What's the lot rent?", False, False, False),
    ],
)
def test_visit_move_and_cancel_are_told_apart(text, visit, move, cancel):
    assert (wants_visit(text), wants_move(text), wants_cancel(text)) == (visit, move, cancel)
