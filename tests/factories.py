"""make_* helpers: rows with sensible defaults, committed, so live servers and workers see them too."""

from __future__ import annotations

import itertools

from chatpad.models import Agent, KnowledgeItem, Location, Organization, SocialAccount, User

PASSWORD = "correct horse battery"
_seq = itertools.count(1)

WEEKDAY_HOURS = {
    "weekly": {
        **{d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
        "sat": [["10:00", "14:00"]],
        "sun": [],
    },
    "exceptions": [],
}


class Factories:
    def __init__(self, db):
        self.db = db

    def _save(self, row):
        self.db.session.add(row)
        self.db.session.commit()
        return row

    def org(self, name: str | None = None) -> Organization:
        return self._save(Organization(name=name or f"Org {next(_seq)}"))

    def user(self, org: Organization, email: str | None = None, role: str = "admin", password: str = PASSWORD):
        user = User(organization_id=org.id, email=email or f"user{next(_seq)}@example.com", role=role)
        user.set_password(password)
        return self._save(user)

    def agent(self, org: Organization, name: str | None = None, **kw) -> Agent:
        return self._save(Agent(organization_id=org.id, name=name or f"Agent {next(_seq)}", **kw))

    def location(self, agent: Agent, name: str | None = None, **kw) -> Location:
        kw.setdefault("timezone", "America/Chicago")
        kw.setdefault("hours", WEEKDAY_HOURS)
        kw.setdefault("address", "1 Main St, Austin, TX 78701")
        return self._save(Location(agent_id=agent.id, name=name or f"Location {next(_seq)}", **kw))

    def account(self, agent: Agent, channel: str = "facebook", location: Location | None = None, **kw):
        n = next(_seq)
        kw.setdefault("account_id", f"{100000000000000 + n}")
        kw.setdefault("account_name", f"{channel.title()} account {n}")
        kw.setdefault("access_token", f"token-{n}-secret")
        return self._save(
            SocialAccount(agent_id=agent.id, channel=channel, location_id=location.id if location else None, **kw)
        )

    def knowledge(self, agent: Agent, location: Location | None = None, kind: str = "faq", **kw) -> KnowledgeItem:
        kw.setdefault("title", f"Question {next(_seq)}")
        kw.setdefault("body", "An answer.")
        return self._save(
            KnowledgeItem(agent_id=agent.id, location_id=location.id if location else None, kind=kind, **kw)
        )

    def business(self, name: str | None = None, role: str = "owner"):
        """An organization with a user, an agent, a location and a Facebook Page: the usual starting point."""
        org = self.org(name)
        user = self.user(org, role=role)
        agent = self.agent(org)
        location = self.location(agent)
        account = self.account(agent, "facebook", location)
        return Business(org, user, agent, location, account)


class Business:
    def __init__(self, org, user, agent, location, account):
        self.org, self.user, self.agent, self.location, self.account = org, user, agent, location, account
