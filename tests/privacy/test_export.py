"""Exporting everything about one customer: what the ZIP holds, that it holds nobody else, and the admin's button."""

from __future__ import annotations

import io
import json
import zipfile

from sqlalchemy import select

from chatpad.models import AuditLog
from chatpad.privacy import export_contact
from tests.conftest import csrf_from, login


def open_zip(data: bytes) -> zipfile.ZipFile:
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    return archive


def test_export_holds_every_channel_message_and_file(app, db, world):
    """The ZIP has the contact, all four channels' identities and conversations, every message and the files."""
    result = export_contact(world.customer, actor=world.biz.user)
    archive = open_zip(result.file.read())
    names = archive.namelist()
    assert "README.txt" in names and "data.json" in names
    data = json.loads(archive.read("data.json"))
    assert data["contact"]["name"] == "Dana Whitfield" and data["contact"]["email"] == "dana@example.com"
    assert {i["channel"] for i in data["identities"]} == {"facebook", "instagram", "email", "widget"}
    assert {i["id_on_channel"] for i in data["identities"]} >= {"24000000000001", "dana@example.com"}
    assert len(data["conversations"]) == 4
    messages = [m for c in data["conversations"] for m in c["messages"]]
    assert len(messages) == 12
    assert {m["from"] for m in messages} == {"Customer", "AI assistant", "Team member"}
    fb = next(c for c in data["conversations"] if c["channel"] == "facebook")
    assert fb["messages"][0]["media"][0]["url"] == "https://scontent.xx.fbcdn.net/v/lot14.jpg"
    ig = next(c for c in data["conversations"] if c["channel"] == "instagram")
    assert ig["messages"][0]["details"]["edits"][0]["text"] == "Is lot 14 free?"
    widget = next(c for c in data["conversations"] if c["channel"] == "widget")
    assert widget["ratings"] == [
        {"score": 5, "scale": "five", "comment": "Great", "created_at": widget["ratings"][0]["created_at"]}
    ]
    mail = next(c for c in data["conversations"] if c["channel"] == "email")["messages"][0]
    assert mail["details"]["subject"] == "Lot 14" and "On Mon, the team wrote" in mail["details"]["text"]
    files = {a["filename"]: a["file"] for a in mail["attachments"]}
    assert archive.read(files["pay stub.pdf"]) == b"%PDF-1.4 Dana's pay stub"
    assert archive.read(files["floor plan.png"]) == b"PNG-shared"
    # A readable transcript per conversation.
    transcripts = [n for n in names if n.startswith("conversations/")]
    assert len(transcripts) == 4
    assert all(archive.read(n).decode().count("Dana Whitfield:") == 1 for n in transcripts)
    assert "Data held about Dana Whitfield" in archive.read("README.txt").decode()
    assert result.counts == {
        "identities": 4,
        "conversations": 4,
        "messages": 12,
        "attachments": 2,
        "bytes": result.counts["bytes"],
    }


def test_export_holds_nobody_else_and_no_internals(app, db, world):
    """Not the bystander's or the namesake's data, not the staff's names, not ChatPad's bookkeeping."""
    result = export_contact(world.customer, actor=world.biz.user)
    archive = open_zip(result.file.read())
    everything = b"".join(archive.read(n) for n in archive.namelist()).decode("utf-8", "replace")
    assert "Sam Bystander" not in everything and "sam@example.com" not in everything
    assert str(world.namesake.id) not in everything
    assert world.biz.user.email not in everything
    assert "webhook_event_id" not in everything and "gAAAA" not in everything
    assert world.biz.account.access_token not in everything


def test_admin_downloads_the_export_and_it_is_audited(app, db, client, world):
    """The Export button downloads the ZIP; the audit log records who exported whom."""
    login(client, world.biz.user.email)
    page = client.get(f"/admin/customer-data/{world.customer.id}")
    html = page.get_data(as_text=True)
    assert "dana@example.com" in html and "pay stub.pdf" in html and "@forgelake" in html
    response = client.post(f"/admin/customer-data/{world.customer.id}/export", data={"csrf_token": csrf_from(html)})
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=chatpad-export-Dana_Whitfield-")
    assert "data.json" in open_zip(response.data).namelist()
    entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "privacy.export")).one()
    assert entry.user_id == world.biz.user.id and entry.target_id == str(world.customer.id)
    assert entry.detail["messages"] == 12 and entry.detail["attachments"] == 2


def test_an_export_without_a_csrf_token_is_refused(app, db, client, world):
    """A cross-site form cannot make an admin's browser download (and log) an export."""
    login(client, world.biz.user.email)
    response = client.post(f"/admin/customer-data/{world.customer.id}/export")
    assert response.status_code == 400
    assert db.session.scalars(select(AuditLog).where(AuditLog.action == "privacy.export")).first() is None


def test_a_missing_file_is_listed_not_fatal(app, db, world):
    """A file gone from storage is named in the README and data.json; the rest still exports."""
    for path in world.files.values():
        if path != world.shared_file:
            path.unlink()
    archive = open_zip(export_contact(world.customer, actor=None).file.read())
    data = json.loads(archive.read("data.json"))
    assert len(data["missing_files"]) == 1 and data["missing_files"][0].endswith("pay_stub.pdf")
    assert "1 file(s) listed in data.json could not be found" in archive.read("README.txt").decode()


def test_customer_search_finds_by_any_identifier_within_the_organization(app, db, client, world):
    """Name, email, phone and platform id all find the customer; the other organization's namesake never shows."""
    login(client, world.biz.user.email)
    for q in ("whitf", "DANA@example", "555 0100", "24000000000001", "visitor-3"):
        html = client.get("/admin/customer-data/", query_string={"q": q}).get_data(as_text=True)
        assert f"/admin/customer-data/{world.customer.id}" in html, q
        assert str(world.namesake.id) not in html, q
    html = client.get("/admin/customer-data/", query_string={"q": "nobody-like-this"}).get_data(as_text=True)
    assert "No customer matches" in html
    # LIKE wildcards are searched for literally, not as "everyone".
    html = client.get("/admin/customer-data/", query_string={"q": "%%"}).get_data(as_text=True)
    assert "No customer matches" in html
