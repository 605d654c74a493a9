"""Retrieval within a prompt budget: a location with hundreds of knowledge items and long documents gets the part
that answers the customer, for the language model's prompt and the offline provider alike, and an edit is seen by
the next reply."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from chatpad.ai import compose_reply
from chatpad.ai.context import build_context
from chatpad.ai.prompt import render_system_prompt
from chatpad.ai.retrieval import chunk_text, tokenize
from chatpad.models import KnowledgeItem

MONDAY_9AM_CHICAGO = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
BUDGET = 4000

PET_FAQ = (
    "Yes, up to two pets per home. Dogs of restricted breeds are not allowed, and every dog is leashed in common "
    "areas. There is no pet rent."
)
PET_RULE = (
    "Residents may keep up to two domestic pets. Dogs must be leashed outside the home and owners pick up after "
    "them at once; barking that disturbs neighbours after 10 PM is a violation."
)
TOPICS = [
    ("pool", "The pool is open from Memorial Day to Labor Day, 8 AM to 8 PM; children under 14 swim with an adult."),
    ("laundry", "The laundry room by the clubhouse takes cards; machines are serviced every Tuesday."),
    ("parking", "Each lot has two parking spaces; guests park in the marked spaces by the office."),
    ("trash", "Trash is picked up on Mondays and recycling every other Thursday; bins go out after 6 PM."),
    ("mail", "Mailboxes are at the entrance; packages too large for a box are held at the office."),
    ("internet", "Fiber internet is available from the local provider; installation takes about a week."),
    ("storage", "Sheds up to 10 by 12 feet are allowed with an approved permit from the office."),
    ("speed", "The speed limit on every community street is 10 miles per hour."),
    ("visitors", "Guests may stay up to 14 nights in a row; longer stays need the manager's approval."),
    ("landscaping", "Residents mow and water their own lots; the community trims the common areas."),
]


def _park_rules() -> str:
    """About 14,000 characters of park rules in sections, the pet rules in the middle."""
    sections = []
    for number, (topic, text) in enumerate(TOPICS, start=1):
        filler = " ".join(
            f"Rule {number}.{k}: residents follow the {topic} guidance posted at the office and in the handbook, "
            f"and the manager may update it with thirty days' written notice to every household."
            for k in range(1, 8)
        )
        sections.append(f"{number}. {topic.title()}\n\n{text} {filler}")
        if number == 5:
            sections.append(f"{number}b. Pets\n\n{PET_RULE}")
    return "Park rules\n\n" + "\n\n".join(sections)


@pytest.fixture
def big_location(make):
    """A location with 300 knowledge items (FAQs, policies, listings), a long park-rules document and the pet FAQ."""
    biz = make.business()
    agent, location = biz.agent, biz.location
    rows = []
    for n in range(150):
        topic, text = TOPICS[n % len(TOPICS)]
        body = f"{text} (Building {n}, row {n % 7}.)"
        rows.append(
            KnowledgeItem(kind="faq", title=f"{topic.title()} question {n}", body=body, data={"keywords": [topic]})
        )
    for n in range(49):
        topic, text = TOPICS[n % len(TOPICS)]
        rows.append(KnowledgeItem(kind="policy", title=f"{topic.title()} policy {n}", body=text, data={}))
    for n in range(100):
        details = {"lot": n + 1, "beds": 2 + n % 3, "baths": 1 + n % 2, "sqft": 900 + 10 * n, "price": 40000 + 500 * n}
        rows.append(KnowledgeItem(kind="property", title=f"Lot {n + 1}", body="Updated kitchen, porch.", data=details))
    for row in rows:
        row.agent_id, row.location_id = agent.id, location.id
    make.db.session.add_all(rows)
    make.db.session.commit()
    pets = make.knowledge(agent, None, kind="faq", title="Do you allow pets?", body=PET_FAQ, data={})
    rules = make.knowledge(agent, location, kind="document", title="Park rules", body=_park_rules())
    biz.pets, biz.rules = pets, rules
    return biz


def _prompt_for(talk, biz, text: str, budget: int = BUDGET):
    conversation = talk.conversation(biz.account)
    talk.say(conversation, text)
    ctx = build_context(conversation, now=MONDAY_9AM_CHICAGO, knowledge_budget=budget)
    return ctx, render_system_prompt(ctx)


def test_a_large_knowledge_base_gives_the_pet_policy_within_the_budget(big_location, talk):
    """'do you allow dogs' at a location with 300 items and long park rules: the prompt carries the pet FAQ and the
    park rules' pet passage, and its knowledge stays within the budget (the whole knowledge is ten times that)."""
    ctx, prompt = _prompt_for(talk, big_location, "do you allow dogs")
    everything, all_in = _prompt_for(talk, big_location, "do you allow dogs", budget=10**9)

    assert PET_FAQ in prompt
    assert PET_RULE in prompt
    assert "Park rules — 5b. Pets" in prompt  # the passage is titled with its document and heading
    assert ctx.retrieval.used <= BUDGET
    assert ctx.retrieval.total > 10 * BUDGET
    assert len(all_in) > 10 * BUDGET
    # The rest of the prompt (instructions, the location's name, address and hours, the answer format) is small.
    assert len(prompt) <= BUDGET + (len(all_in) - everything.retrieval.used) + 600
    assert "Location: " + big_location.location.name in prompt and "1 Main St, Austin, TX" in prompt
    assert "This week's hours" in prompt
    assert "are not shown" in prompt  # the model is told that knowledge was left out


def test_the_offline_provider_answers_from_what_retrieval_chose(big_location, talk):
    """The offline provider reads the same choice: among 300 items it answers the dog question with the pet policy,
    and a question answered only by the long document with its passage."""
    conversation = talk.conversation(big_location.account)
    talk.say(conversation, "do you allow dogs?")
    reply = compose_reply(conversation, now=MONDAY_9AM_CHICAGO)
    assert reply.handoff is False
    assert "up to two pets" in reply.text
    assert reply.extra["trace"]["retrieval"]["complete"] is False


def test_an_edited_item_is_found_after_the_edit(big_location, talk, make):
    """The index is kept between replies; an edit to one of the 300 items is in the very next reply."""
    first, prompt = _prompt_for(talk, big_location, "can I rent a kayak?")
    assert "kayak" not in prompt.lower()
    item = make.db.session.scalar(select(KnowledgeItem).where(KnowledgeItem.title == "Pool question 40"))
    item.title = "Kayak rentals"
    item.body = "Kayaks rent for $15 an hour at the marina dock, life vests included."
    make.db.session.commit()

    ctx, prompt = _prompt_for(talk, big_location, "can I rent a kayak?")
    assert "Kayaks rent for $15 an hour" in prompt
    assert ctx.retrieval.hits[0][0] == ("faq", item.id, None)

    conversation = talk.conversation(big_location.account)
    talk.say(conversation, "can I rent a kayak?")
    reply = compose_reply(conversation, now=MONDAY_9AM_CHICAGO)
    assert "Kayaks rent for $15 an hour" in reply.text and reply.handoff is False

    item.active = False  # switched off: gone from the next reply too
    make.db.session.commit()
    _, prompt = _prompt_for(talk, big_location, "can I rent a kayak?")
    assert "Kayaks rent" not in prompt


def test_a_small_knowledge_base_is_given_whole(make, talk):
    """Under the budget nothing is left out, in the usual order: what fits is never trimmed."""
    biz = make.business()
    make.knowledge(biz.agent, biz.location, kind="faq", title="Lot rent?", body="$600 a month.")
    make.knowledge(biz.agent, None, kind="policy", title="Quiet hours", body="10 PM to 7 AM.")
    ctx, prompt = _prompt_for(talk, biz, "do you allow dogs")
    assert ctx.retrieval.complete is True
    assert "$600 a month." in prompt and "10 PM to 7 AM." in prompt and "are not shown" not in prompt


def test_documents_are_cut_into_passages_at_headings_without_losing_text():
    """Long park rules become passages of about 700 characters, each under its heading, every word kept."""
    text = _park_rules()
    passages = chunk_text(text)
    assert len(passages) > 15
    assert all(len(body) <= 760 for _, body in passages)
    assert ("5b. Pets", PET_RULE) in passages
    kept = " ".join(body for _, body in passages) + " " + " ".join(h or "" for h, _ in passages)
    assert sorted(set(tokenize(text))) == sorted(set(tokenize(kept)))


def test_terms_are_stemmed_and_stopwords_dropped_in_english_and_spanish():
    assert tokenize("Do you allow DOGS?") == ["dog"]
    assert tokenize("¿Tienen casas de 3 habitaciones?") == ["casa", "3", "habitacion"]


def test_the_demo_communities_knowledge_is_given_whole(demo, talk, db):
    """Every demo community's knowledge fits the default budget, so its offline answers are exactly those of the
    all-in context (tests/ai/test_offline.py and bench/ai_eval.py hold them)."""
    from chatpad.models import SocialAccount

    pages = db.session.scalars(select(SocialAccount).where(SocialAccount.channel == "facebook")).all()
    assert len(pages) >= 20
    for page in pages:
        conversation = talk.conversation(page)
        talk.say(conversation, "do you allow dogs?")
        ctx = build_context(conversation, now=MONDAY_9AM_CHICAGO)
        assert ctx.retrieval.complete, (page.account_name, ctx.retrieval.trace())


def test_a_general_inbox_lists_the_homes_that_fit_and_says_the_rest_are_not_shown(make, talk):
    """A General inbox answers for every community: with 3 × 150 homes the prompt keeps within the budget, carries
    the home asked about by its lot number, and tells the model that more homes are listed than it sees."""
    biz = make.business()
    general = make.account(biz.agent, "facebook", None)
    rows = []
    for n, name in enumerate(("Lakeside", "Pine Grove", "Sunny Acres")):
        place = biz.location if n == 0 else make.location(biz.agent, name)
        for lot in range(150):
            data = {"lot": f"{n}{lot:03d}", "beds": 2 + lot % 3, "baths": 2, "price": 50000 + 100 * lot}
            rows.append(
                KnowledgeItem(agent_id=biz.agent.id, location_id=place.id, kind="property", title="", data=data)
            )
    make.db.session.add_all(rows)
    make.db.session.commit()

    conversation = talk.conversation(general)
    talk.say(conversation, "is lot 2149 still for sale?")
    ctx = build_context(conversation, now=MONDAY_9AM_CHICAGO, knowledge_budget=BUDGET)
    prompt = render_system_prompt(ctx)
    assert len(ctx.listings) == 450  # the offline provider still searches every home by its fields
    assert ctx.retrieval.used <= BUDGET and not ctx.retrieval.complete
    assert "- Sunny Acres: Lot 2149 — 4BR/2BA, $64,900 (available)" in prompt
    assert "more listed homes are not shown" in prompt
