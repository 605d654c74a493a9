"""AI answer quality: the question set bench/ai_eval_set.jsonl, asked of each provider on the demo business.

`python -m bench ai_eval` (offline; also an OpenAI-compatible endpoint when AI_BASE_URL is set, with AI_API_KEY and
AI_MODEL: an operator can compare models on the same questions). Each message of the set (written the way residents
and prospects write: typos, several questions in one, Spanish, emoji, complaints, emergencies, requests for a
person, questions the knowledge does not answer) records the account it is sent to, its language, the facts the
answer must contain ("a|b": either) and whether a person must take it. Each is asked as a new customer's first
message, at Monday 9 AM in Texas, in a scratch database with the demo business seeded.

Per provider it reports:
- resolution: of the messages that need no person, the share answered with every fact, no handoff, no wrong fact,
  in the customer's language;
- correct handoffs: of the messages that need a person, the share handed off; and the answerable ones handed off
  needlessly;
- partial: answerable, some of the facts but not all (or handed off after answering some);
- wrong: an answer with a fact not in the knowledge (an amount, a phone number, a lot, a percentage that neither the
  context the AI was given nor the customer's message holds), or one of the message's must-not facts;
- wrong language: the answer (without the knowledge quoted as written, which carries a lead-in) is not in the
  customer's language (lingua, as the product detects it);
- p50/p95 time of compose_reply, beside its floor measured in the same run: build_context alone (the database
  reads every provider pays);
and prints the five worst answers. Results in bench/results/ai_eval.json.
"""

from __future__ import annotations

import json
import os
import re
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import SMOKE, local_app, percentile, save, scratch_database

SET = Path(__file__).with_name("ai_eval_set.jsonl")
NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # Monday 9 AM in Texas (Forge at the Lake is open 8–5:30)
SMOKE_ITEMS = 12

MONEY_RE = re.compile(r"\$\s?(\d[\d,]*(?:\.\d+)?)\s*(k\b)?", re.IGNORECASE)
PHONE_RE = re.compile(r"\(?\b\d{3}\)?[\s.-]\d{3}-\d{4}\b")
LOT_RE = re.compile(r"\b(?:lot|lote)\s+#?(\d+)\b", re.IGNORECASE)
PERCENT_RE = re.compile(r"\b(\d+(?:\.\d+)?)\s?%")
BARE_AMOUNT_RE = re.compile(r"\b(\d+(?:[.,]\d+)?)\s*(k|mil|thousand)\b", re.IGNORECASE)


def load_set(path: Path = SET) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _money(value: str, k: str | None = None) -> int:
    number = float(value.replace(",", ""))
    return int(number * 1000) if k else int(number)


def facts_in(text: str) -> dict[str, set]:
    """The checkable facts of a text: amounts, phone numbers, lots, percentages."""
    amounts = {_money(m.group(1), m.group(2)) for m in MONEY_RE.finditer(text)}
    amounts |= {_money(m.group(1).replace(",", "."), "k") for m in BARE_AMOUNT_RE.finditer(text)}
    return {
        "amount": amounts,
        "phone": {re.sub(r"\D", "", m.group(0)) for m in PHONE_RE.finditer(text)},
        "lot": {m.group(1) for m in LOT_RE.finditer(text)},
        "percent": {m.group(1) for m in PERCENT_RE.finditer(text)},
    }


def wrong_facts(reply: str, known_text: str, question: str, must_not: list[str]) -> list[str]:
    """Facts in the reply that neither the AI's context nor the customer's message holds, and must-not facts."""
    said, known, asked = facts_in(reply), facts_in(known_text), facts_in(question)
    wrong = []
    for kind, values in said.items():
        for value in sorted(values, key=str):
            if value not in known[kind] and value not in asked[kind]:
                wrong.append(f"{kind} {value}")
    wrong += [f"must not say {x}" for x in must_not if x.lower() in reply.lower()]
    return wrong


def has_fact(reply: str, fact: str) -> bool:
    low = reply.lower()
    return any(alt.strip().lower() in low for alt in fact.split("|"))


def reply_language(reply: str, quoted: list[str], default: str) -> str:
    """The language of the AI's own words: the knowledge quoted as written, links and listing lines left out."""
    from chatpad.ai.language import detect_language

    text = reply
    for body in quoted:
        text = text.replace(body, " ")
    text = re.sub(r"https?://\S+", " ", text)
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("•"))
    return detect_language(text, default=default)


def grade(item: dict, reply, known_text: str, quoted: list[str]) -> dict:
    text = reply.text
    found = [f for f in item["facts"] if has_fact(text, f)]
    wrong = wrong_facts(text, known_text, item["text"], item.get("must_not", []))
    language = reply_language(text, quoted, item["lang"])
    handed = bool(reply.handoff)
    need = bool(item["handoff"])
    result = {
        "id": item["id"],
        "kind": item["kind"],
        "text": item["text"],
        "reply": text,
        "handoff": handed,
        "reason": reply.extra.get("handoff_reason"),
        "facts_found": len(found),
        "facts": len(item["facts"]),
        "missing": [f for f in item["facts"] if f not in found],
        "wrong": wrong,
        "language": language,
        "wrong_language": language != item["lang"],
    }
    all_facts = len(found) == len(item["facts"])
    if need:
        result["outcome"] = "handed_off" if handed else "missed_handoff"
    elif handed:
        result["outcome"] = "partial" if found else "needless_handoff"
    elif all_facts and not wrong and not result["wrong_language"]:
        result["outcome"] = "resolved"
    elif found:
        result["outcome"] = "partial"
    else:
        result["outcome"] = "unanswered"
    # How bad, for the five worst: a wrong fact, then a missed handoff, then the wrong language, then nothing right.
    result["badness"] = (
        (100 if wrong else 0)
        + (60 if result["outcome"] == "missed_handoff" else 0)
        + (40 if result["wrong_language"] else 0)
        + (30 if result["outcome"] in ("unanswered", "needless_handoff") else 0)
        + (10 * (len(item["facts"]) - len(found)) if not need else 0)
    )
    return result


def evaluate(app, items: list[dict], provider: str) -> dict:
    """Ask every message of the set of one provider; grade each answer."""
    from sqlalchemy import select

    from chatpad.ai import compose_reply
    from chatpad.ai.context import build_context
    from chatpad.ai.prompt import render_system_prompt
    from chatpad.extensions import db
    from chatpad.models import Contact, ContactIdentity, Conversation, Message, SocialAccount

    app.config["AI_PROVIDER"] = provider
    results, times, floors = [], [], []
    with app.app_context():
        accounts = {a.account_name: a for a in db.session.scalars(select(SocialAccount)).all()}
        for n, item in enumerate(items):
            account = accounts[item["account"]]
            contact = Contact(organization_id=account.organization_id, name="Jamie Rivera")
            db.session.add(contact)
            db.session.flush()
            conversation = Conversation(
                organization_id=account.organization_id,
                agent_id=account.agent_id,
                location_id=account.location_id,
                social_account_id=account.id,
                contact_id=contact.id,
                channel=account.channel,
                thread_key=f"eval-{provider}-{n}-{contact.id}",
            )
            db.session.add(conversation)
            db.session.add(
                ContactIdentity(
                    contact_id=contact.id,
                    channel=account.channel,
                    social_account_id=account.id,
                    external_id=f"eval-{provider}-{n}-{contact.id}",
                )
            )
            db.session.flush()
            db.session.add(
                Message(
                    conversation_id=conversation.id,
                    channel=account.channel,
                    channel_account_id=account.id,
                    direction="inbound",
                    sender_type="contact",
                    content=item["text"],
                    status="received",
                    created_at=NOW,
                )
            )
            db.session.commit()
            started = time.perf_counter()
            context = build_context(conversation, now=NOW)
            floors.append(time.perf_counter() - started)
            known_text = render_system_prompt(context)
            quoted = [k.body for k in context.knowledge]
            db.session.commit()
            started = time.perf_counter()
            try:
                reply = compose_reply(conversation, now=NOW)
            except Exception as exc:  # a provider failing is a result too: counted, shown
                from chatpad.messages import OutboundReply

                reply = OutboundReply(text=f"[error: {exc}]", handoff=True, extra={"handoff_reason": "error"})
            times.append(time.perf_counter() - started)
            db.session.rollback()
            results.append(grade(item, reply, known_text, quoted))
    return summarise(provider, results, times, floors)


def summarise(provider: str, results: list[dict], times: list[float], floors: list[float]) -> dict:
    answerable = [r for r in results if r["outcome"] not in ("handed_off", "missed_handoff")]
    must = [r for r in results if r["outcome"] in ("handed_off", "missed_handoff")]
    spanish = [r for r in results if r["kind"] == "spanish" or r["language"] == "es"]

    def share(part, whole):
        return round(100.0 * len(part) / len(whole), 1) if whole else None

    resolved = [r for r in answerable if r["outcome"] == "resolved"]
    fine = ("resolved", "handed_off")
    worst = sorted(results, key=lambda r: (-r["badness"], r["outcome"] in fine, r["id"]))[:5]
    return {
        "provider": provider,
        "messages": len(results),
        "answerable": len(answerable),
        "resolved": len(resolved),
        "resolution_pct": share(resolved, answerable),
        "must_handoff": len(must),
        "handed_off": sum(r["outcome"] == "handed_off" for r in must),
        "correct_handoff_pct": share([r for r in must if r["outcome"] == "handed_off"], must),
        "needless_handoffs": sum(r["outcome"] == "needless_handoff" for r in answerable)
        + sum(r["outcome"] == "partial" and r["handoff"] for r in answerable),
        "partial": sum(r["outcome"] == "partial" for r in answerable),
        "unanswered": sum(r["outcome"] == "unanswered" for r in answerable),
        "wrong_facts": sum(bool(r["wrong"]) for r in results),
        "wrong_language": sum(r["wrong_language"] for r in results),
        "spanish_messages": len(spanish),
        "seconds": {"p50": percentile(times, 50), "p95": percentile(times, 95)},
        "floor_build_context_seconds": {"p50": percentile(floors, 50), "p95": percentile(floors, 95)},
        "by_kind": _by_kind(results),
        "worst": [
            {k: r[k] for k in ("id", "kind", "text", "reply", "outcome", "missing", "wrong", "language", "reason")}
            for r in worst
        ],
        "results": results,
    }


def _by_kind(results: list[dict]) -> dict:
    kinds: dict[str, dict[str, int]] = {}
    for r in results:
        row = kinds.setdefault(r["kind"], {})
        row[r["outcome"]] = row.get(r["outcome"], 0) + 1
    return kinds


def report(summary: dict) -> None:
    s = summary
    print(f"\n--- provider {s['provider']}: {s['messages']} messages")
    print(f"resolution            {s['resolution_pct']}%  ({s['resolved']} of {s['answerable']} answerable)")
    print(
        f"correct handoffs      {s['correct_handoff_pct']}%"
        f"  ({s['handed_off']} of {s['must_handoff']} that need a person)"
    )
    print(f"needless handoffs     {s['needless_handoffs']}")
    print(f"partial answers       {s['partial']}")
    print(f"unanswered            {s['unanswered']}")
    print(f"wrong facts           {s['wrong_facts']}")
    print(f"wrong language        {s['wrong_language']}")
    t, f = s["seconds"], s["floor_build_context_seconds"]
    print(
        f"time p50/p95          {t['p50'] * 1000:.1f} / {t['p95'] * 1000:.1f} ms"
        f"   (floor, build_context alone: {f['p50'] * 1000:.1f} / {f['p95'] * 1000:.1f} ms)"
    )
    print("by kind               " + ", ".join(f"{k}: {v}" for k, v in sorted(s["by_kind"].items())))
    print("five worst answers:")
    for r in s["worst"]:
        reply = " ".join(r["reply"].split())
        print(f"  #{r['id']} [{r['kind']}, {r['outcome']}] {r['text']!r}")
        print(f"      → {reply[:300]}{'…' if len(reply) > 300 else ''}")
        notes = []
        if r["missing"]:
            notes.append(f"missing {r['missing']}")
        if r["wrong"]:
            notes.append(f"wrong {r['wrong']}")
        if notes:
            print(f"      ({'; '.join(notes)})")


DEV_SANDBOX = "http://127.0.0.1:5055"


def _sandbox(app):
    """The sandbox in this process, on a free port (the demo's calendars live there), with the app's secrets (the
    demo's calendar tokens are derived from them)."""
    import logging
    import threading

    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    from chatpad.sandbox import create_sandbox_app
    from config import TestConfig

    secrets = {k: v for k, v in app.config.items() if k.endswith(("_SECRET", "_CLIENT_ID")) or k == "SECRET_KEY"}
    server = make_server("127.0.0.1", 0, create_sandbox_app(TestConfig, PUBLIC_URL="", **secrets), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def main() -> None:
    from chatpad.demo import seed_demo
    from chatpad.extensions import db

    items = load_set()
    if SMOKE:
        items = items[:: max(1, len(items) // SMOKE_ITEMS)][:SMOKE_ITEMS]  # a spread of kinds
    providers = ["offline"]
    if os.environ.get("AI_BASE_URL") or SMOKE:  # the smoke run checks the path on the sandbox's stand-in model
        providers.append("openai")
    with scratch_database() as db_url:
        app = local_app(db_url)
        server, sandbox = _sandbox(app)
        # The demo's calendars (tour booking) are the sandbox's: this run's own, in this process.
        for key, value in list(app.config.items()):
            if isinstance(value, str) and value.startswith(DEV_SANDBOX) and key != "AI_BASE_URL":
                app.config[key] = sandbox + value.removeprefix(DEV_SANDBOX)
        app.config["SANDBOX_URL"] = sandbox
        app.config["AI_BASE_URL"] = os.environ.get("AI_BASE_URL") or f"{sandbox}/openai/v1"
        app.config["AI_API_KEY"] = os.environ.get("AI_API_KEY") or app.config.get("AI_API_KEY") or "sk-bench"
        with app.app_context():
            seed_demo()
            db.session.commit()
        summaries = []
        for provider in providers:
            summary = evaluate(app, items, provider)
            report(summary)
            summaries.append(summary)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    server.shutdown()
    save("ai_eval", {"set": SET.name, "providers": summaries})


if __name__ == "__main__":
    main()
