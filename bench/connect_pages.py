"""How long connecting a business's Pages takes: reading /me/accounts through every page of results, then subscribing
and storing 25 Pages, against the sandbox with no latency and with Meta-like latency (150 ms per subscribed_apps
call) — subscriptions one at a time versus SUBSCRIBE_CONCURRENCY at once.

`python -m bench connect_pages`. Needs PostgreSQL and Redis like the other benchmarks.
"""

from __future__ import annotations

import json
import threading
import time

from werkzeug.serving import make_server

from bench.common import RESULTS, flush_redis, redis_url, scratch_database, sized

N_PAGES = sized(25, 3)
LATENCY_S = 0.15


def _sandbox():
    from chatpad.sandbox import create_sandbox_app
    from config import TestConfig

    app = create_sandbox_app(TestConfig, PUBLIC_URL="")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def main() -> dict:
    import requests
    from sqlalchemy import delete

    from chatpad import create_app, normalize_database_url
    from chatpad.extensions import db
    from chatpad.integrations import connect, meta
    from chatpad.models import Agent, Organization, SocialAccount
    from config import TestConfig

    server, url = _sandbox()
    results: dict = {}
    try:
        with scratch_database() as db_url:
            flush_redis()
            app = create_app(
                TestConfig,
                SQLALCHEMY_DATABASE_URI=normalize_database_url(db_url),
                REDIS_URL=redis_url(),
                GRAPH_API_URL=f"{url}/graph",
                FACEBOOK_DIALOG_URL=f"{url}/facebook",
                LOG_LEVEL="WARNING",
            )
            control = f"{url}/sandbox-api/meta"
            http = requests.Session()
            with app.app_context():
                org = Organization(name="Bench Communities")
                db.session.add(org)
                db.session.flush()
                agent = Agent(organization_id=org.id, name="Bench agent")
                db.session.add(agent)
                db.session.commit()
                user = next(u for u in http.get(f"{control}/users").json() if u["name"] == "Dana Demo")
                for latency in (0.0, LATENCY_S):
                    for concurrency in (1, meta.SUBSCRIBE_CONCURRENCY):
                        http.post(f"{control}/reset")
                        http.delete(f"{control}/failures")
                        if latency:
                            http.post(
                                f"{control}/failures",
                                json={"kind": "slow", "delay": latency, "percent": 100, "path": "/subscribed_apps"},
                            )
                        token = http.post(
                            f"{control}/oauth/tokens",
                            json={"kind": "user", "subject": user["id"], "scopes": list(meta.FACEBOOK_SCOPES)},
                        ).json()["access_token"]
                        db.session.execute(delete(SocialAccount))
                        db.session.commit()
                        started = time.perf_counter()
                        pages = meta.fetch_pages(meta.UserToken(token))
                        read_s = time.perf_counter() - started
                        candidates = [
                            {"id": p.id, "name": p.name, "access_token": p.access_token} for p in pages[:N_PAGES]
                        ]
                        meta.SUBSCRIBE_CONCURRENCY = concurrency
                        started = time.perf_counter()
                        outcomes = connect.connect_meta(
                            kind="facebook",
                            org_id=org.id,
                            agent=agent,
                            user_id=None,
                            selections=[(c, None) for c in candidates],
                        )
                        connect_s = time.perf_counter() - started
                        assert all(o.ok for o in outcomes), [o.what for o in outcomes if not o.ok]
                        key = f"latency_{int(latency * 1000)}ms_concurrency_{concurrency}"
                        results[key] = {
                            "pages_read": len(pages),
                            "read_me_accounts_s": round(read_s, 3),
                            "connect_25_pages_s": round(connect_s, 3),
                        }
                        print(f"{key}: read {len(pages)} Pages in {read_s:.3f} s; connected 25 in {connect_s:.3f} s")
    finally:
        server.shutdown()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "connect_pages.json").write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
