"""Integrations → SMS against the sandbox's Twilio: the account's credentials checked, its numbers listed, a number
picked and given a location, pointed at ChatPad and stored as connected, and the connection audited."""

from __future__ import annotations

from sqlalchemy import select

from chatpad.models import AuditLog, Location, SocialAccount
from tests.conftest import csrf_from
from tests.plugins.twilio_sandbox import TwilioSandbox


def _connect(client, agent_id, number: str, location_id) -> str:
    page = client.get(f"/admin/integrations/sms/new?agent={agent_id}").get_data(as_text=True)
    step = client.post(
        f"/admin/integrations/sms/new?agent={agent_id}",
        data={
            "account_sid": TwilioSandbox.account_sid,
            "auth_token": TwilioSandbox.auth_token,
            "csrf_token": csrf_from(page),
        },
    )
    assert step.status_code == 302, step.get_data(as_text=True)
    numbers_url = step.headers["Location"]
    page = client.get(numbers_url).get_data(as_text=True)
    done = client.post(
        numbers_url,
        data={"number": number, f"location-{number}": str(location_id), "csrf_token": csrf_from(page)},
    )
    return done.get_data(as_text=True)


def test_a_number_is_connected_to_its_location_and_audited(admin_client, twilio_sandbox, db):
    client, biz = admin_client(locations=("Forge at the Lake",))
    forge = db.session.scalar(select(Location).where(Location.name == "Forge at the Lake"))
    number = twilio_sandbox.number(0)
    _connect(client, biz.agent.id, number, forge.id)
    account = db.session.scalar(select(SocialAccount).where(SocialAccount.channel == "sms"))
    assert account.account_id == number and account.status == "connected" and account.location_id == forge.id
    assert account.access_token == TwilioSandbox.auth_token

    actions = db.session.scalars(
        select(AuditLog.action).where(AuditLog.organization_id == biz.org.id).order_by(AuditLog.id)
    ).all()
    assert [a for a in actions if a.startswith("account.")] == ["account.connect"]
