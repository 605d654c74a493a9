"""What bench/ai_eval.py found the offline AI getting wrong (issue 18), each as a customer would notice it."""

from __future__ import annotations

import pytest

from chatpad import demo_data as D
from tests.ai.test_languages import ask  # noqa: F401  (fixture)

FORGE = D.LOCATIONS[0]
RENT = f"${FORGE.lot_rent}/month"


@pytest.mark.parametrize(
    "question",
    [
        "streetlight on my street has been out for a month",
        "my neighbors dog keeps pooping in my yard and nobody does anything",
        "the pool has been closed all summer, what am i paying for",
        "why did my rent go up without notice??",
    ],
)
def test_a_complaint_goes_to_a_person_not_to_a_faq(ask, question):  # noqa: F811
    reply, _ = ask(question)
    assert reply.handoff is True, reply.text
    assert reply.extra["handoff_reason"] == "Complaint or problem report"
    assert RENT not in reply.text and D.AGENT_FAQS[0]["body"] not in reply.text


@pytest.mark.parametrize(
    "question",
    [
        "how big are the lots",
        "can i rent out my home on airbnb",
        "can i work from home and run a business from my house",
    ],
)
def test_one_shared_word_is_not_an_answer(ask, question):  # noqa: F811
    reply, _ = ask(question)
    assert reply.handoff is True, reply.text
    assert RENT not in reply.text and "Lot 52" not in reply.text


def test_calling_the_office_is_not_an_emergency(ask):  # noqa: F811
    reply, _ = ask("can i call the office")
    assert FORGE.phone in reply.text and reply.handoff is False
    assert "911" not in reply.text


def test_a_keyword_with_a_word_inside_it_still_matches(ask):  # noqa: F811
    reply, _ = ask("i want to move my mobile home into your park, is that possible")
    assert D.AGENT_FAQS[2]["body"] in reply.text, reply.text
    assert "Lot 52" not in reply.text  # their own home, not our listings


def test_two_words_of_the_question_together_pick_the_entry(ask):  # noqa: F811
    reply, _ = ask("is there a dog park", account="Bluebonnet Meadows Homes")
    assert "dog park" in reply.text and D.AGENT_FAQS[0]["body"] not in reply.text


def test_homes_and_the_lot_rent_in_one_sentence_are_both_answered(ask):  # noqa: F811
    reply, _ = ask("Hello, I'd like to know what homes you currently have available and the lot rent. Thank you")
    assert "Lot 52" in reply.text and RENT in reply.text, reply.text
    assert reply.handoff is False


def test_the_autopay_taking_rent_twice_is_a_billing_dispute(ask):  # noqa: F811
    reply, _ = ask("the autopay took my rent out twice, I want my money back")
    assert reply.handoff is True and reply.extra["handoff_topic"] == "billing dispute"


def test_is_there_a_thing_one_entry_names_is_answered_by_it(ask):  # noqa: F811
    reply, _ = ask("is there a playground for the kids")
    assert "playground" in reply.text and reply.handoff is False, reply.text
    reply, _ = ask("is there a bus stop nearby")
    assert reply.handoff is True
