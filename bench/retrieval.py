"""Retrieval: the prompt one reply sends, and what choosing it costs, at a location with 1,000 knowledge items.

A scratch PostgreSQL database holds one location with ITEMS knowledge items (FAQs, policies, listings) and
DOCUMENTS long documents (park rules, lease terms, each ~20,000 characters). For a set of customer questions this
process builds the reply's context (build_context: the database reads, the index, the choice) and renders the
system prompt, three ways:

- all-in, the floor: the budget set so high that everything goes in, as every prompt did before retrieval (its
  time adds the reading of every item that the all-in context did on each reply);
- retrieval, cold: the first reply after the knowledge changed (the index is built);
- retrieval, warm: the following replies (the index is kept; one small version query).

It reports prompt characters (and ≈ tokens, 4 characters each) and the median / p95 time of context + prompt,
and whether each question's expected passage was in the prompt. Timings are this machine's, beside the floor
measured in the same run.
"""

from __future__ import annotations

import statistics
import time
import uuid

from sqlalchemy import select

from bench.common import local_app, save, scratch_database, sized

ITEMS = sized(1000, 60)
DOCUMENTS = sized(4, 1)
ROUNDS = sized(20, 2)
BUDGET = 12000

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
# (question, text the prompt must carry)
QUESTIONS = [
    ("do you allow dogs?", "Dogs must be leashed"),
    ("when is trash pickup", "Trash is picked up on Mondays"),
    ("how long can guests stay?", "Guests may stay up to 14 nights"),
    ("what happens if I pay rent late?", "late fee of $50"),
    ("is lot 7 still available", "Lot 7 —"),
]


def _document(title: str, n: int) -> str:
    sections = []
    for number in range(1, 26):
        topic, text = TOPICS[(number + n) % len(TOPICS)]
        filler = " ".join(
            f"{title} {number}.{k}: residents follow the {topic} guidance posted at the office, which the manager may "
            "update with thirty days' written notice to every household."
            for k in range(1, 6)
        )
        sections.append(f"{number}. {topic.title()}\n\n{text} {filler}")
    if n == 0:
        sections.insert(7, "Pets\n\nUp to two pets per home. Dogs must be leashed outside the home at all times.")
        sections.insert(12, "Rent\n\nRent is due on the 1st; a late fee of $50 applies after the 5th.")
    return f"{title}\n\n" + "\n\n".join(sections)


def seed(app) -> uuid.UUID:
    """One organization, agent and location with ITEMS items and DOCUMENTS documents; returns the account id."""
    from chatpad.extensions import db
    from chatpad.models import Agent, KnowledgeItem, Location, Organization, SocialAccount

    with app.app_context():
        org = Organization(name="Bench retrieval")
        db.session.add(org)
        db.session.flush()
        agent = Agent(organization_id=org.id, name="Bench assistant")
        db.session.add(agent)
        db.session.flush()
        hours = {"weekly": {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}, "exceptions": []}
        location = Location(
            agent_id=agent.id, name="Bench Lake", timezone="America/Chicago", hours=hours, address="1 Main St, Austin"
        )
        db.session.add(location)
        db.session.flush()
        rows = []
        for n in range(ITEMS):
            topic, text = TOPICS[n % len(TOPICS)]
            if n % 10 < 5:
                rows.append(KnowledgeItem(kind="faq", title=f"{topic} question {n}", body=f"{text} (row {n})", data={}))
            elif n % 10 < 7:
                rows.append(KnowledgeItem(kind="policy", title=f"{topic} policy {n}", body=text, data={}))
            else:
                lot = n // 10 * 3 + n % 10 - 6
                data = {"lot": lot, "beds": 2 + n % 3, "baths": 1 + n % 2, "price": 40000 + 90 * n, "sqft": 1000 + n}
                rows.append(KnowledgeItem(kind="property", title=f"Lot {lot}", body="Covered porch.", data=data))
        for n in range(DOCUMENTS):
            title = ("Park rules", "Lease terms", "Community handbook", "Resident guide")[n % 4]
            rows.append(KnowledgeItem(kind="document", title=title, body=_document(title, n)))
        for row in rows:
            row.agent_id, row.location_id = agent.id, location.id
        db.session.add_all(rows)
        account = SocialAccount(
            agent_id=agent.id, location_id=location.id, channel="facebook", account_id="9" * 15, account_name="Bench"
        )
        account.access_token = "bench-token"
        db.session.add(account)
        db.session.commit()
        return account.id


def _conversation(account_id: uuid.UUID, question: str):
    from chatpad.extensions import db
    from chatpad.models import Contact, Conversation, Message, SocialAccount

    account = db.session.get(SocialAccount, account_id)
    contact = Contact(organization_id=account.organization_id, name="Bench Customer")
    db.session.add(contact)
    db.session.flush()
    conversation = Conversation(
        organization_id=account.organization_id,
        agent_id=account.agent_id,
        location_id=account.location_id,
        social_account_id=account.id,
        contact_id=contact.id,
        channel="facebook",
        thread_key=f"bench-{uuid.uuid4().hex}",
    )
    db.session.add(conversation)
    db.session.flush()
    db.session.add(
        Message(
            conversation_id=conversation.id,
            channel="facebook",
            channel_account_id=account.id,
            direction="inbound",
            sender_type="contact",
            content=question,
            status="received",
        )
    )
    db.session.commit()
    return conversation


def _old_reads(conversation) -> float:
    """What the all-in context read besides: every active item of the location, as entries and listings, on every
    reply (now kept with the index). Timed to add to the floor's warm build."""
    from chatpad.ai.context import KNOWLEDGE_COLUMNS, document_entries, knowledge_from, listing_from
    from chatpad.extensions import db
    from chatpad.models import KnowledgeItem

    started = time.perf_counter()
    rows = db.session.execute(
        select(*KNOWLEDGE_COLUMNS).where(
            KnowledgeItem.agent_id == conversation.agent_id,
            KnowledgeItem.active.is_(True),
            KnowledgeItem.location_id.is_(None) | (KnowledgeItem.location_id == conversation.location_id),
        )
    ).all()
    for row in rows:
        if row.kind == "property":
            listing_from(row)
        elif row.kind == "document":
            document_entries(row)
        else:
            knowledge_from(row)
    return time.perf_counter() - started


def _time(conversation, budget: int) -> tuple[float, str, object]:
    from chatpad.ai.context import build_context
    from chatpad.ai.prompt import render_system_prompt

    started = time.perf_counter()
    ctx = build_context(conversation, knowledge_budget=budget)
    prompt = render_system_prompt(ctx)
    return time.perf_counter() - started, prompt, ctx


def _summary(seconds: list[float], sizes: list[int]) -> dict:
    ordered = sorted(seconds)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000, 2),
        "prompt_chars": round(statistics.median(sizes)),
        "prompt_tokens_approx": round(statistics.median(sizes) / 4),
    }


def main() -> None:
    from chatpad.ai.retrieval import clear_cache
    from chatpad.extensions import db

    with scratch_database() as db_url:
        app = local_app(db_url)
        account_id = seed(app)
        with app.app_context():
            conversations = [(_conversation(account_id, q), q, must) for q, must in QUESTIONS]
            floor_s, floor_sizes, cold_s, warm_s, sizes, found = [], [], [], [], [], {}
            for _ in range(ROUNDS):
                for conversation, _question, _must in conversations:
                    seconds, prompt, _ = _time(conversation, 10**9)
                    floor_s.append(seconds + _old_reads(conversation))
                    floor_sizes.append(len(prompt))
                    db.session.rollback()
            for _ in range(ROUNDS):
                clear_cache()
                for number, (conversation, question, must) in enumerate(conversations):
                    seconds, prompt, ctx = _time(conversation, BUDGET)
                    (cold_s if number == 0 else warm_s).append(seconds)
                    sizes.append(len(prompt))
                    found[question] = must in prompt
                    db.session.rollback()
                for conversation, _question, _must in conversations:
                    seconds, prompt, ctx = _time(conversation, BUDGET)
                    warm_s.append(seconds)
                    db.session.rollback()
    result = {
        "items": ITEMS,
        "documents": DOCUMENTS,
        "budget_chars": BUDGET,
        "floor_all_in": _summary(floor_s, floor_sizes),
        "retrieval_cold": _summary(cold_s, sizes),
        "retrieval_warm": _summary(warm_s, sizes),
        "expected_passage_in_prompt": found,
    }
    save("retrieval", result)
    floor, cold, warm = result["floor_all_in"], result["retrieval_cold"], result["retrieval_warm"]
    print(f"{ITEMS} items + {DOCUMENTS} documents, budget {BUDGET:,} characters")
    print(f"  prompt: {warm['prompt_chars']:,} chars (≈{warm['prompt_tokens_approx']:,} tokens)")
    print(f"          floor (all-in): {floor['prompt_chars']:,} chars (≈{floor['prompt_tokens_approx']:,} tokens)")
    print(f"  context + prompt, warm index: p50 {warm['p50_ms']} ms, p95 {warm['p95_ms']} ms")
    print(f"                    cold index: p50 {cold['p50_ms']} ms, p95 {cold['p95_ms']} ms")
    print(f"                floor (all-in): p50 {floor['p50_ms']} ms, p95 {floor['p95_ms']} ms")
    print(f"  expected passage in the prompt: {sum(found.values())}/{len(found)} {found}")


if __name__ == "__main__":
    main()
