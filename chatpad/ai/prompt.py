"""The system prompt and messages a language model gets: the ReplyContext rendered as text."""

from __future__ import annotations

from .context import (
    QUICK_REPLY_MAX,
    QUICK_REPLY_TITLE_MAX,
    HistoryMessage,
    LocationInfo,
    ReplyContext,
    document_line,
    faq_line,
    listing_line,
    policy_line,
)
from .language import language_name

ANSWER_FORMAT = f"""Answer with one JSON object and nothing else:
{{"reply": "<the message to send the customer>", "quick_replies": ["<up to {QUICK_REPLY_MAX} short suggestions, each \
at most {QUICK_REPLY_TITLE_MAX} characters>"], "handoff": false, "handoff_reason": null, "handoff_topic": null}}
Set "handoff" to true (and say why in "handoff_reason") when the customer asks for a person, when a policy below says
a person must handle it, when the message is about one of the handoff topics below (then put that topic's name,
exactly as listed, in "handoff_topic"), or when the facts below do not answer the question: then "reply" tells the
customer a team member will follow up. A message may ask several things: answer every part the facts below answer,
say which parts you cannot answer, and then set "handoff" to true with "handoff_reason" as "Still open: " and those
parts, so a person takes only what is left; never drop a part silently. Never invent prices, availability, hours or
policies that are not listed below."""


def _hours_lines(loc: LocationInfo) -> list[str]:
    h = loc.hours
    lines = [f"Local time at {loc.name}: {h.local_now.strftime('%A %b %d %Y, %I:%M %p')} ({h.timezone})"]
    if not h.known:
        lines.append("Office hours: not on file.")
        return lines
    status = "OPEN now" if h.open_now else "CLOSED now"
    if h.open_now and h.closes_at:
        status += f", closes at {h.closes_at.strftime('%I:%M %p').lstrip('0')}"
    elif h.next_opening:
        status += f", next opens {h.next_opening.strftime('%A %b %d at %I:%M %p').replace(' 0', ' ')}"
    lines.append(f"Office status: {status}.")
    lines.append(f"Today: {h.today}")
    lines.append("This week's hours (holiday exceptions included):")
    lines.extend(f"  {line}" for line in h.week)
    return lines


def _location_block(loc: LocationInfo) -> list[str]:
    lines = [f"Location: {loc.name}"]
    for label, value in (
        ("Address", loc.address),
        ("Phone", loc.phone),
        ("Email", loc.email),
        ("Website", loc.website),
        ("Book a tour", loc.booking_url),
    ):
        if value:
            lines.append(f"{label}: {value}")
    lines.extend(_hours_lines(loc))
    return lines


def _history_line(m: HistoryMessage, ctx: ReplyContext) -> str:
    when = m.created_at.astimezone(ctx.location.hours.local_now.tzinfo if ctx.location else ctx.now.tzinfo)
    where = m.channel if m.current else f"{m.channel}, another conversation"
    return f"[{when.strftime('%b %d %I:%M %p')} · {where} · {m.speaker}] {m.describe()}"


def _left_out_note(ctx: ReplyContext) -> list[str]:
    """When retrieval left knowledge out (it did not fit the budget), the model is told, so that "not listed above"
    is never taken for "does not exist"."""
    selection = ctx.retrieval
    if selection is None or selection.complete or not selection.left_out:
        return []
    homes = selection.left_out.get("property", 0)
    other = sum(n for kind, n in selection.left_out.items() if kind != "property")
    bits = []
    if homes:
        bits.append(f"{homes} more listed home{'s' if homes != 1 else ''}")
    if other:
        bits.append(f"{other} more knowledge item{'s' if other != 1 else ''}")
    return [
        "",
        f"Only the knowledge most relevant to this message is above; {' and '.join(bits)} are not shown. If the "
        "customer asks for something not above (a home, a rule, a fact), do not say it does not exist: hand off so a "
        "team member checks.",
    ]


def language_lines(ctx: ReplyContext) -> str:
    """What the model is told about the customer's language."""
    lang = language_name(ctx.language)
    if ctx.language == ctx.business_language:
        return f"The customer writes in {lang}. Answer in {lang}."
    return (
        f"The customer writes in {lang}. Answer in {lang}, the whole reply, including quick replies. The facts "
        f"below are written in {language_name(ctx.business_language)}: translate what you quote, never its numbers, "
        "names or links."
    )


def render_system_prompt(ctx: ReplyContext) -> str:
    """The whole context as one system prompt."""
    out: list[str] = []
    out.append(
        f"You are {ctx.agent_name or 'the assistant'}, answering customers of {ctx.organization_name or 'the business'}"
        f" on {ctx.channel.label}" + (f" (account: {ctx.account_name})" if ctx.account_name else "") + "."
    )
    if ctx.instructions:
        out += ["", "Instructions from the business:", ctx.instructions]
    out += ["", f"Channel: {ctx.channel.style}"]
    if ctx.channel.numbered_choices:
        out.append(
            "This channel has no buttons: quick replies are sent as numbered lines the customer answers with the "
            "number; offer at most a few when there are choices, and put links in the text."
        )
    elif ctx.channel.quick_replies:
        out.append("This channel shows quick replies as buttons under your message; offer them when there are choices.")
    else:
        out.append("This channel cannot show buttons: put links in the text and leave quick_replies empty.")
    if ctx.contact_name:
        out.append(f"Customer's name: {ctx.contact_name}")
    out += ["", language_lines(ctx)]
    if ctx.handoff_topics:
        out += [
            "",
            "Handoff topics: a message about any of these always goes to a team member, even when the facts below "
            "seem to answer it (set handoff true and handoff_topic to the topic's name):",
        ]
        out += [f"- {t.name}" for t in ctx.handoff_topics]

    out.append("")
    if ctx.location is not None:
        out += _location_block(ctx.location)
    else:
        out.append(
            "This conversation reached the business's general inbox, not one location. Ask which community the "
            "customer means when it matters. The locations:"
        )
        for loc in ctx.locations:
            h = loc.hours
            today = f"today {h.today}, {'open' if h.open_now else 'closed'} now" if h.known else "hours not on file"
            details = ", ".join(x for x in (loc.address, loc.phone, loc.booking_url) if x)
            out.append(f"- {loc.name}: {details} ({today})")

    listings = ctx.prompt_listings
    if listings and ctx.location is None:
        out += ["", "Homes listed at the communities (community: lot, bedrooms/bathrooms, size, price, status):"]
        out += [listing_line(listing, True) for listing in listings]
    elif listings:
        out += ["", "Homes listed at this location (lot, bedrooms/bathrooms, size, price, status):"]
        out += [listing_line(listing, False) for listing in listings]
    elif ctx.location is not None and not ctx.listings:
        out += ["", "No homes are listed at this location right now."]

    faqs = [k for k in ctx.knowledge if k.kind == "faq"]
    policies = [k for k in ctx.knowledge if k.kind == "policy"]
    documents = [k for k in ctx.knowledge if k.kind == "document"]
    if faqs:
        out += ["", "Frequently asked questions:"]
        out += [faq_line(k) for k in faqs]
    if policies:
        out += ["", "Policies:"]
        out += [policy_line(k) for k in policies]
    if documents:
        out += ["", "From the business's documents (rules, terms, web pages), the passages that bear on this:"]
        out += [document_line(k) for k in documents]
    out += _left_out_note(ctx)

    if ctx.history:
        out += ["", "Earlier messages with this customer, oldest first (channel and sender marked):"]
        out += [_history_line(m, ctx) for m in ctx.history]
    story = ctx.story_reply
    if story:
        out += [
            "",
            f"The customer's latest message replies to the business's Instagram story {story.get('id') or ''}"
            f"{' (' + story['url'] + ')' if story.get('url') else ''}.",
        ]
    out += ["", ANSWER_FORMAT]
    return "\n".join(out)


def build_messages(ctx: ReplyContext) -> list[dict[str, str]]:
    """Chat Completions messages: the system prompt, then the customer's latest message(s) as the user turn."""
    question = ctx.question or "(The customer has not written anything yet: greet them.)"
    return [
        {"role": "system", "content": render_system_prompt(ctx)},
        {"role": "user", "content": question},
    ]
