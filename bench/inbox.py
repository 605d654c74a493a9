"""The inbox at scale: seed 1M messages / 100k conversations / 10k accounts in PostgreSQL, then time the pages.

`python -m bench inbox` (or `python -m bench.inbox`). Seeds a scratch database with COPY (a couple of minutes on a
small machine), then requests the pages in-process through the Flask test client, signed in as an owner of the
largest organization (half of all conversations: the worst tenant), and prints p50/p95 of:

- the inbox's first page, a deep page (keyset cursor), and filtered first pages (channel + location + status,
  waiting only, assigned to me);
- searches: a contact name, a rare word, a common word;
- the analytics page (last 30 days);

plus the key lines of each query plan. Goal: p95 under 50 ms for the first and filtered pages. Numbers and plans:
docs/performance.md. BENCH_SCALE=0.1 seeds a tenth (a quick run).
"""

from __future__ import annotations

import os
import random
import re
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine

from bench.common import redis_url, save, scratch_database, sized, summary

SCALE = float(os.environ.get("BENCH_SCALE", sized("1", "0.003")))
ORGS = 10
ACCOUNTS = int(10_000 * SCALE)
CONVERSATIONS = int(100_000 * SCALE)
MESSAGES = int(1_000_000 * SCALE)
BIG_SHARE = 0.5  # the measured organization holds half of everything
CHANNELS = ("facebook", "instagram", "email", "widget")
PASSWORD = "bench password 123"  # noqa: S105 (a throwaway user in a scratch database)
RUNS = int(os.environ.get("BENCH_RUNS", sized("60", "3")))

FIRST = "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan Joseph \
Jessica Thomas Sarah Carlos Maria Juan Ana Luis Sofia Wei Mei Raj Priya Ahmed Fatima Olu Amara Jan Eva".split()
LAST = "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson \
Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson \
Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell \
Mitchell Carter Roberts Zimmerman".split()
DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday".split()
INBOUND = [
    "Hi, I'm interested in the {beds}BR home on lot {lot}. Is it still available?",
    "What are your office hours on {day}?",
    "Do you allow pets? I have {n} dogs.",
    "Is there a pool or a clubhouse?",
    "Can I schedule a tour for {day} at {hour}pm?",
    "How much is the lot rent here?",
    "Hello, my name is {first} {last}, I'd like more information about homes for sale.",
    "My payment didn't go through, can someone call me at 512-555-{four}?",
    "Thanks!",
    "Is the {beds} bedroom on lot {lot} move-in ready?",
]
AI = [
    "Hi {first}! Lot {lot} is available: {beds} bedrooms, 2 baths, ${price}. Would you like to book a tour?",
    "Our office is open Monday to Friday 9am to 5pm and Saturday 10am to 2pm.",
    "Yes, we allow up to two pets per home. Some breed restrictions apply.",
    "I've passed your question to our team; someone will reply shortly.",
    "You can book a tour here: https://example.com/tour",
]
HUMAN = [
    "Hi {first}, this is the office. I can meet you on {day} at {hour}pm.",
    "I checked with maintenance, they will come by {day}.",
    "Thanks for waiting! I've updated your account.",
]
FAILURES = [
    "(#10) This message is sent outside of allowed window.",
    "(#551) This person isn't available right now.",
    "SMTP 550 5.1.1 mailbox unavailable",
    "(#100) Invalid parameter",
]


def _text(rng: random.Random, templates: list[str], first: str, last: str) -> str:
    return rng.choice(templates).format(
        beds=rng.choice((2, 3, 4)),
        lot=rng.randint(1, 9999),
        day=rng.choice(DAYS),
        n=rng.randint(1, 3),
        hour=rng.randint(1, 5),
        first=first,
        last=last,
        four=rng.randint(1000, 9999),
        price=rng.randint(40, 120) * 1000,
    )


def _copy(conn, table: str, columns: list[str], rows) -> int:
    count = 0
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def seed(database_url: str) -> dict:
    """Fill the scratch database; return what the measurements need (ids of the big organization)."""
    import psycopg
    from werkzeug.security import generate_password_hash

    from chatpad.models.org import new_session_token

    rng = random.Random(7)  # noqa: S311 (reproducible data, not secrets)
    now = datetime.now(UTC)
    plain = database_url.replace("postgresql+psycopg://", "postgresql://")
    info: dict = {}
    started = time.perf_counter()
    with psycopg.connect(plain, autocommit=False) as conn:
        try:
            conn.execute("SET session_replication_role = replica")  # skip FK triggers while bulk loading
        except psycopg.Error:
            conn.rollback()
        # Load without the secondary indexes, then build them once (much faster than maintaining them per row).
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "AND tablename IN ('messages', 'conversations', 'contacts', 'contact_identities') "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')

        org_ids = list(range(1, ORGS + 1))
        _copy(conn, "organizations", ["id", "name", "created_at"], ((i, f"Bench Org {i}", now) for i in org_ids))
        conn.execute("SELECT setval('organizations_id_seq', %s)", (ORGS,))
        pw = generate_password_hash(PASSWORD)
        users = [
            (i, i, f"owner{i}@bench-chatpad.example.com", pw, "owner", True, True, now, new_session_token())
            for i in org_ids
        ]
        users += [
            (ORGS + i, 1, f"agent{i}@bench-chatpad.example.com", pw, "agent", True, True, now, new_session_token())
            for i in range(1, 21)
        ]
        _copy(
            conn,
            "users",
            ["id", "organization_id", "email", "password_hash", "role", "active", "notify_email", "created_at"]
            + ["session_token"],
            users,
        )
        conn.execute("SELECT setval('users_id_seq', %s)", (len(users),))
        big_users = [1] + [ORGS + i for i in range(1, 21)]

        agents = {o: uuid.uuid4() for o in org_ids}
        _copy(
            conn,
            "agents",
            ["id", "organization_id", "name", "instructions", "ai_settings", "active", "created_at", "updated_at"],
            ((agents[o], o, f"Agent {o}", "", "{}", True, now, now) for o in org_ids),
        )

        # Accounts: four per location (one per channel). The big organization gets BIG_SHARE of them.
        per_org_locations = {}
        big_locations = max(1, int(ACCOUNTS * BIG_SHARE) // len(CHANNELS))
        rest = max(1, (ACCOUNTS // len(CHANNELS) - big_locations) // (ORGS - 1))  # at least one (a tiny scale)
        for o in org_ids:
            per_org_locations[o] = [uuid.uuid4() for _ in range(big_locations if o == 1 else rest)]
        location_rows = []
        for o, locs in per_org_locations.items():
            for n, loc in enumerate(locs):
                location_rows.append(
                    (loc, agents[o], f"Community {o}-{n:04d}", "America/Chicago", "{}", "{}", now, now)
                )
        _copy(
            conn,
            "locations",
            ["id", "agent_id", "name", "timezone", "hours", "settings", "created_at", "updated_at"],
            location_rows,
        )
        accounts = []  # (id, org, location, channel)
        account_rows = []
        for o, locs in per_org_locations.items():
            for loc in locs:
                for channel in CHANNELS:
                    account = uuid.uuid4()
                    accounts.append((account, o, loc, channel))
                    status = "needs_reauth" if rng.random() < 0.01 else "connected"
                    account_rows.append(
                        (
                            account,
                            agents[o],
                            loc,
                            channel,
                            f"{channel} {str(loc)[:8]}",
                            str(account),
                            True,
                            "{}",
                            now,
                            now,
                            status,
                        )
                    )
        _copy(
            conn,
            "social_accounts",
            [
                "id",
                "agent_id",
                "location_id",
                "channel",
                "account_name",
                "account_id",
                "is_active",
                "metadata",
                "created_at",
                "updated_at",
                "status",
            ],
            account_rows,
        )
        by_org: dict[int, list] = {o: [] for o in org_ids}
        for account in accounts:
            by_org[account[1]].append(account)

        # Conversations: half in the big organization; last activity over 90 days, denser recently.
        conv_rows, ident_rows, contact_rows, message_rows = [], [], [], []
        plan = []  # per conversation: (id, org, account, contact, first, last, last_at, n_messages, status)
        for i in range(CONVERSATIONS):
            org = 1 if i < CONVERSATIONS * BIG_SHARE else rng.choice(org_ids[1:])
            account = rng.choice(by_org[org])
            contact = uuid.uuid4()
            first, last = rng.choice(FIRST), rng.choice(LAST)
            email = f"{first.lower()}.{last.lower()}{i}@example.com" if account[3] == "email" else None
            contact_rows.append((contact, org, f"{first} {last}", email, now, now))
            external = email or f"psid-{i}"
            ident_rows.append((contact, account[3], account[0], external, contact, "{}", now))
            age = timedelta(days=90 * rng.random() ** 2)
            status = rng.choices(("resolved", "open", "waiting"), (70, 25, 5))[0]
            plan.append((uuid.uuid4(), org, account, contact, first, last, now - age, status, external))
        _copy(
            conn,
            "contacts",
            ["id", "organization_id", "name", "email", "created_at", "updated_at"],
            contact_rows,
        )
        _copy(
            conn,
            "contact_identities",
            [
                "contact_id",
                "channel",
                "social_account_id",
                "external_id",
                "original_contact_id",
                "profile",
                "created_at",
            ],
            ident_rows,
        )
        del contact_rows, ident_rows

        # Messages: about MESSAGES / CONVERSATIONS per conversation, alternating customer and AI (or a person).
        mean = MESSAGES / CONVERSATIONS
        remaining = MESSAGES
        mid = 0
        for index, (cid, org, account, contact, first, last, last_at, status, external) in enumerate(plan):
            left = len(plan) - index
            n = max(1, min(remaining - (left - 1), round(rng.uniform(0.3, 1.7) * mean))) if left > 1 else remaining
            remaining -= n
            start = last_at - timedelta(minutes=rng.randint(n, 60 * 24))
            step = (last_at - start) / max(1, n - 1)
            takeover = status == "waiting" or rng.random() < 0.03
            preview, last_inbound = "", None
            for k in range(n):
                mid += 1
                at = start + step * k if k < n - 1 else last_at
                if k % 2 == 0:
                    content, direction, sender, st, err = (
                        _text(rng, INBOUND, first, last),
                        "inbound",
                        "contact",
                        "received",
                        None,
                    )
                    last_inbound = at
                else:
                    human = takeover and rng.random() < 0.7
                    content = _text(rng, HUMAN if human else AI, first, last)
                    direction, sender = "outbound", "human" if human else "ai"
                    roll = rng.random()
                    st, err = (
                        ("failed", rng.choice(FAILURES))
                        if roll < 0.02
                        else (("read", None) if roll < 0.5 else ("delivered", None))
                    )
                message_rows.append(
                    (mid, cid, account[3], account[0], direction, sender, content, "[]", "{}", st, err, at)
                )
                preview = content
            conv_rows.append(
                (
                    cid,
                    org,
                    agents[org],
                    account[2],
                    account[0],
                    contact,
                    account[3],
                    status,
                    takeover,
                    rng.choice(big_users) if org == 1 and rng.random() < 0.3 else None,
                    external,
                    last_inbound,
                    last_at,
                    preview.split("\n")[0][:200],
                    rng.randint(1, 3) if status != "resolved" and rng.random() < 0.3 else 0,
                    last_at - timedelta(days=1),
                    now,
                )
            )
        _copy(
            conn,
            "conversations",
            [
                "id",
                "organization_id",
                "agent_id",
                "location_id",
                "social_account_id",
                "contact_id",
                "channel",
                "status",
                "human_takeover",
                "assigned_user_id",
                "thread_key",
                "last_inbound_at",
                "last_message_at",
                "last_message_preview",
                "unread_count",
                "created_at",
                "updated_at",
            ],
            conv_rows,
        )
        _copy(conn, "messages", MESSAGE_COLUMNS, message_rows)
        conn.execute("SELECT setval('messages_id_seq', %s)", (mid,))
        loaded = time.perf_counter()
        # The triggers that keep each conversation's search words were off during COPY: fill them in one pass, as
        # the migration does for existing data.
        conn.execute(_migration().SEARCH_BACKFILL)
        conn.execute("SET maintenance_work_mem = '512MB'")
        for _, definition in indexes:
            conn.execute(definition)
        conn.commit()
        indexed = time.perf_counter()
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    info.update(
        big_org=1,
        big_locations=[str(x) for x in per_org_locations[1]],
        load_seconds=round(loaded - started, 1),
        index_seconds=round(indexed - loaded, 1),
        analyze_seconds=round(time.perf_counter() - indexed, 1),
        messages=mid,
        conversations=len(plan),
        accounts=len(accounts),
    )
    return info


def _migration():
    """The inbox migration (revision inbox_1) as a module: its search backfill SQL is reused, not copied. Found by its
    revision id, not its file name, so renumbering the migrations cannot break the benchmark."""
    import importlib.util
    import re
    from pathlib import Path

    versions = Path(__file__).resolve().parent.parent / "migrations" / "versions"
    found = [
        f for f in sorted(versions.glob("*.py")) if re.search(r"^revision = ['\"]inbox_1['\"]", f.read_text(), re.M)
    ]
    if len(found) != 1:
        raise SystemExit(f"expected one migration with revision inbox_1 in {versions}, found {len(found)}")
    spec = importlib.util.spec_from_file_location("chatpad_migration_inbox", found[0])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MESSAGE_COLUMNS = [
    "id",
    "conversation_id",
    "channel",
    "channel_account_id",
    "direction",
    "sender_type",
    "content",
    "media",
    "metadata",
    "status",
    "error",
    "created_at",
]


def _login(client, email: str) -> None:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.status_code


def _time(client, urls: list[str], runs: int) -> dict:
    """Wall time per request, and this process's CPU time (the web process's own work, whatever else the machine
    is doing; the database's work shows in wall time only)."""
    timings, cpu = [], []
    for i in range(runs):
        url = urls[i % len(urls)]
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return summary(timings) | {"cpu_p50": summary(cpu)["p50"]}


def _plan_lines(engine, sql: str, params: dict, settings: tuple[str, ...] = ()) -> list[str]:
    with engine.connect() as conn:
        for setting in settings:
            conn.exec_driver_sql(setting)
        rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql, params or {}).scalars().all()
    keep = ("Scan", "Join", "Sort", "Limit", "Execution Time", "Nested Loop", "Aggregate", "Hash", "Filter", "CTE")
    return [r.rstrip() for r in rows if any(k in r for k in keep)][:24]


def _slowest_statement(app, client, url: str) -> tuple[str, dict]:
    """The query a page spends longest on (with its parameters), to show its plan."""
    from sqlalchemy import event

    from chatpad.extensions import db

    seen: list[tuple[float, str, dict]] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_started"] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):
        elapsed = time.perf_counter() - conn.info.pop("bench_started")
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):  # a plan to show, not the page's SET LOCAL
            seen.append((elapsed, statement, parameters))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        client.get(url)
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    _, statement, parameters = max(seen, key=lambda s: s[0])
    return statement, parameters


def measure(database_url: str, info: dict) -> dict:
    """Time the pages in-process (Flask test client: the server's whole work, no network)."""
    from chatpad import create_app
    from chatpad.extensions import db
    from config import DevelopmentConfig

    app = create_app(
        DevelopmentConfig, SQLALCHEMY_DATABASE_URI=database_url, REDIS_URL=redis_url(), RATELIMIT_ENABLED=False
    )
    client = app.test_client()
    _login(client, "owner1@bench-chatpad.example.com")
    rng = random.Random(11)  # noqa: S311
    locations = info["big_locations"]
    with app.app_context():
        cursor_url = "/admin/inbox/"
        for _ in range(sized(20, 2)):  # the 21st page, by following "older" links
            html = client.get(cursor_url).get_data(as_text=True)
            older = re.search(r'class="older-link" href="([^"]+)"', html)
            if older is None:
                raise SystemExit(f"the inbox has no older page after {cursor_url}: seed more (BENCH_SCALE)")
            cursor_url = older.group(1).replace("&amp;", "&")
    filtered = [
        f"/admin/inbox/?channel={rng.choice(CHANNELS)}&location={rng.choice(locations)}&status=open" for _ in range(30)
    ]
    searches = {
        "search: a surname (garcia)": ["/admin/inbox/?q=garcia"],
        "search: a rare word (zimmerman)": ["/admin/inbox/?q=zimmerman"],
        "search: a common word (tour)": ["/admin/inbox/?q=tour"],
        "search: a lot number (lot 4711)": ["/admin/inbox/?q=lot+4711"],
    }
    cases = {
        "first page": ["/admin/inbox/"],
        "page 21 (keyset cursor)": [cursor_url],
        "filtered: channel + location + status": filtered,
        "filtered: waiting on a human": ["/admin/inbox/?status=waiting"],
        "filtered: channel + assigned to me": ["/admin/inbox/?channel=facebook&mine=1"],
        "list partial (live refresh)": ["/admin/inbox/?partial=1"],
        **searches,
    }
    results = {}
    for name, urls in cases.items():
        client.get(urls[0])  # warm
        results[name] = _time(client, urls, RUNS)
    client.get("/admin/analytics/?days=30")
    results["analytics (30 days)"] = _time(client, ["/admin/analytics/?days=30"], max(5, RUNS // 6))
    slowest = _slowest_statement(app, client, "/admin/analytics/?days=30")

    # Query plans of the list queries, straight from PostgreSQL.
    engine = create_engine(database_url)
    with app.app_context():
        from sqlalchemy import and_, select

        from chatpad.inbox.queries import InboxFilters, filter_clauses
        from chatpad.models import Conversation

        def sql_for(filters: InboxFilters) -> tuple[str, dict]:
            stmt = (
                select(Conversation.id)
                .where(and_(*filter_clauses(1, filters, 1)))
                .order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
                .limit(51)
            )
            compiled = stmt.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True})
            return str(compiled).replace("%", "%%"), {}

        plans = {
            "first page": sql_for(InboxFilters()),
            "channel + location + status": sql_for(
                InboxFilters(channel="facebook", location=locations[0], status="open")
            ),
            "search (tour): a common word": sql_for(InboxFilters(q="tour")),
            "search (zimmerman): a rare word": sql_for(InboxFilters(q="zimmerman")),
        }
        plan_lines = {name: _plan_lines(engine, sql, params) for name, (sql, params) in plans.items()}
        # With the settings the analytics page makes for itself (chatpad/inbox/analytics.py).
        plan_lines["analytics: its slowest statement"] = _plan_lines(
            engine, *slowest, settings=("SET work_mem = '64MB'", "SET jit = off")
        )
    engine.dispose()
    return {"pages": results, "plans": plan_lines}


def main() -> None:
    started = time.perf_counter()
    with scratch_database() as database_url:
        print(f"seeding {MESSAGES:,} messages / {CONVERSATIONS:,} conversations / {ACCOUNTS:,} accounts …")
        info = seed(database_url)
        print(
            f"  loaded in {info['load_seconds']} s, search words and indexes built in {info['index_seconds']} s, "
            f"analyzed in {info['analyze_seconds']} s"
        )
        result = measure(database_url, info)
    print(f"\ninbox pages, organization with {BIG_SHARE:.0%} of the data, {RUNS} requests each (ms)")
    print(f"  {'page':44} {'p50':>7} {'p95':>7} {'p99':>7} {'cpu p50':>8}")
    for name, s in result["pages"].items():
        goal = "  (goal p95 < 50)" if name.startswith(("first", "filtered", "page 21")) else ""
        print(f"  {name:44} {s['p50']:7.1f} {s['p95']:7.1f} {s['p99']:7.1f} {s['cpu_p50']:8.1f}{goal}")
    print(f"  machine load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for name, lines in result["plans"].items():
        print(f"\nplan: {name}")
        for line in lines:
            print("  " + line)
    total = time.perf_counter() - started
    print(f"\nwhole benchmark: {total:.0f} s")
    path = save("inbox", {"scale": SCALE, "seed": info | {"big_locations": len(info["big_locations"])}, **result})
    print(f"results: {path.relative_to(path.parent.parent.parent)}")


if __name__ == "__main__":
    main()
