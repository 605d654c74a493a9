"""How long offering tour slots takes: 20 locations × 3 staff calendars (Google, Microsoft, Google) × a 14-day horizon,
each calendar with a few staff meetings a day, against the sandbox's Google Calendar and Graph stand-ins.

Measured per location, p50/p95 over every location and round:
- `availability_fresh`: chatpad.booking.service.availability(location, fresh=True), what a booking's alternatives and
  the first offer of the day cost: the database reads (tour type, hours, calendars, active tours), the three free/busy
  reads side by side, and the slot engine over 14 days;
- `availability_cached`: the same within BOOKING_BUSY_CACHE_SECONDS (the busy times from Redis), what most offers
  cost;
- the floor, `provider_calls`: the same three free/busy reads alone (service.fetch_busy with the credentials already
  in hand: the sandbox's HTTP and JSON, no database, no slots), measured in the same run.

`python -m bench booking_slots`. Needs PostgreSQL and Redis like the other benchmarks; BENCH_SMOKE=1 runs 2 locations
and one round.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from werkzeug.serving import make_server

from bench.common import flush_redis, redis_url, save, scratch_database, sized, summary

LOCATIONS = sized(20, 2)
ROUNDS = sized(5, 1)
PROVIDERS = ("google", "microsoft", "google")
HORIZON_DAYS = 14
SCOPES = {
    "google": "openid email https://www.googleapis.com/auth/calendar.freebusy "
    "https://www.googleapis.com/auth/calendar.events.owned",
    "microsoft": "openid email offline_access https://graph.microsoft.com/Calendars.ReadWrite",
}
WEEKDAYS = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
HOURS = {"weekly": {**WEEKDAYS, "sat": [["10:00", "16:00"]], "sun": []}, "exceptions": []}


def _sandbox():
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per provider call
    from chatpad.sandbox import create_sandbox_app
    from config import TestConfig

    app = create_sandbox_app(TestConfig, PUBLIC_URL="")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def _seed(http, url: str) -> None:
    """20 locations of one business, each with 3 calendars granted by the sandbox and staff meetings on them."""
    from chatpad.extensions import db
    from chatpad.models import Agent, Calendar, Location, Organization, TourType

    org = Organization(name="Bench Communities")
    db.session.add(org)
    db.session.flush()
    agent = Agent(organization_id=org.id, name="Bench agent")
    db.session.add(agent)
    db.session.flush()
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for n in range(LOCATIONS):
        location = Location(agent_id=agent.id, name=f"Community {n + 1}", timezone="America/Chicago", hours=HOURS)
        db.session.add(location)
        db.session.flush()
        db.session.add(TourType(location_id=location.id, min_notice_minutes=60, horizon_days=HORIZON_DAYS))
        for k, provider in enumerate(PROVIDERS):
            email = f"staff{k}-loc{n}@bench.example.com"
            grant = http.post(
                f"{url}/sandbox-api/oauth/issue",
                json={"provider": provider, "email": email, "scope": SCOPES[provider], "expires_in": 36000},
            ).json()
            db.session.add(
                Calendar(
                    agent_id=agent.id, location_id=location.id, provider=provider, name=email, account=email,
                    remote_id=email, access_token=grant["access_token"],
                    token_expires_at=datetime.now(UTC) + timedelta(hours=10),
                )
            )  # fmt: skip
            for day in range(HORIZON_DAYS + 1):  # two meetings a day, at different hours per calendar
                for hour in (15 + (k + n + day) % 4, 19 + (k * 2 + day) % 3):
                    start = today + timedelta(days=day, hours=hour)
                    http.post(
                        f"{url}/sandbox-api/calendar/busy",
                        json={
                            "provider": provider,
                            "email": email,
                            "start": start.isoformat(),
                            "end": (start + timedelta(minutes=45)).isoformat(),
                        },
                    )
    db.session.commit()


def main() -> dict:
    import requests
    from sqlalchemy import select

    from chatpad import create_app, normalize_database_url
    from chatpad.booking import service
    from chatpad.booking.calendars import credentials
    from chatpad.extensions import db
    from chatpad.models import Location
    from config import TestConfig

    server, url = _sandbox()
    http = requests.Session()
    try:
        with scratch_database() as db_url:
            flush_redis()
            app = create_app(
                TestConfig,
                SQLALCHEMY_DATABASE_URI=normalize_database_url(db_url),
                REDIS_URL=redis_url(),
                GOOGLE_CALENDAR_API_URL=f"{url}/google-calendar/calendar/v3",
                MICROSOFT_GRAPH_URL=f"{url}/msgraph/v1.0",
                LOG_LEVEL="WARNING",
            )
            with app.app_context():
                http.post(f"{url}/sandbox-api/calendar/reset")
                _seed(http, url)
                locations = list(db.session.scalars(select(Location).order_by(Location.name)))
                service.availability(locations[0], fresh=True)  # warm: imports, pools, connections
                fresh, cached, floor, slots = [], [], [], []
                for _ in range(ROUNDS):
                    for location in locations:
                        started = time.perf_counter()
                        offer = service.availability(location, fresh=True)
                        fresh.append(time.perf_counter() - started)
                        assert not offer.unreadable, offer.unreadable
                        slots.append(len(offer.slots))
                        started = time.perf_counter()
                        service.availability(location)
                        cached.append(time.perf_counter() - started)
                        # The floor: the same three reads of the same window, credentials already in hand.
                        calendars = service.usable_calendars(location.id)
                        creds = [(str(c.id), credentials(c)) for c in calendars]
                        start, end = service._window(offer.zone, offer.rules, offer.now)
                        db.session.commit()
                        started = time.perf_counter()
                        answers = service.fetch_busy(creds, start, end)
                        floor.append(time.perf_counter() - started)
                        assert all(isinstance(a, list) for a in answers.values()), answers
    finally:
        server.shutdown()
    ms = lambda values: {k: (round(v * 1000, 2) if k != "n" else v) for k, v in summary(values).items()}  # noqa: E731
    result = {
        "locations": LOCATIONS,
        "calendars_per_location": len(PROVIDERS),
        "horizon_days": HORIZON_DAYS,
        "rounds": ROUNDS,
        "slots_per_location_median": sorted(slots)[len(slots) // 2],
        "availability_fresh_ms": ms(fresh),
        "availability_cached_ms": ms(cached),
        "floor_provider_calls_ms": ms(floor),
    }
    result["overhead_p95_ms"] = round(
        result["availability_fresh_ms"]["p95"] - result["floor_provider_calls_ms"]["p95"], 2
    )
    for key in ("availability_fresh_ms", "availability_cached_ms", "floor_provider_calls_ms"):
        figures = result[key]
        print(f"{key:<26} p50 {figures['p50']:8.2f}  p95 {figures['p95']:8.2f}  (n={figures['n']})")
    print(f"slots offered per location (median): {result['slots_per_location_median']}")
    print(f"p95 above the floor (the provider calls alone): {result['overhead_p95_ms']:.2f} ms")
    save("booking_slots", result)
    return result


if __name__ == "__main__":
    main()
