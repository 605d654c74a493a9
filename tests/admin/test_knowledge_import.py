"""Setup → Import knowledge: a web page (the sandbox's demo community page over real HTTP), a PDF and a CSV of
listings are previewed with counts that add up, then imported; bad input is a clear form error (4xx), never a 500."""

from __future__ import annotations

import re

import pytest
import requests
from sqlalchemy import select

from chatpad.ai.context import build_context
from chatpad.ai.prompt import render_system_prompt
from chatpad.models import KnowledgeItem
from chatpad.sandbox.site_pages import minimal_pdf
from tests.conftest import csrf_from, login, own_browser

FORGE = "forge-at-the-lake"
PAGE = "/admin/knowledge-import/"


@pytest.fixture
def admin(client, make):
    biz = make.business()
    login(client, biz.user.email)
    biz.csrf = csrf_from(client.get(PAGE).get_data(as_text=True))
    return biz


def _preview(client, biz, source: str, **fields):
    data = {"csrf_token": biz.csrf, "source": source, "agent": str(biz.agent.id), "location": str(biz.location.id)}
    data.update(fields)
    return client.post(PAGE + "preview", data=data, content_type="multipart/form-data")


def _confirm(client, biz, html: str):
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)
    return client.post(PAGE + "confirm", data={"csrf_token": biz.csrf, "token": token})


def _counts(html: str) -> tuple[int, int, int]:
    """(read, to import, left out) from the preview's sentence."""
    text = re.sub(r"<[^>]+>", "", re.search(r'id="import-counts">(.*?)</p>', html, re.S).group(1))
    read = int(re.search(r"Read (\d+)", text).group(1))
    items = int(re.search(r"(\d+) to import", text).group(1))
    left = re.search(r"(\d+) left out", text)
    return read, items, int(left.group(1)) if left else 0


def _items(db, biz):
    return db.session.scalars(
        select(KnowledgeItem).where(KnowledgeItem.agent_id == biz.agent.id).order_by(KnowledgeItem.id)
    ).all()


def test_a_web_page_is_split_at_its_headings_previewed_and_imported(client, db, admin, sandbox_server, talk):
    """The demo community page: its sections become items (navigation, header, footer and aside left out), the
    heading with no text is reported, the counts add up, and after the import the AI's prompt carries the pets
    section for a question about dogs."""
    url = f"{sandbox_server.url}/site/{FORGE}/"
    preview = _preview(client, admin, "url", url=url)
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200, html
    read, items, left = _counts(html)
    assert read == items + left and left == 1
    assert "Coming soon" in html and "has a heading but no text" in html
    assert "newsletter" not in html and "Equal Housing" not in html and "Homes for sale" not in html
    assert _items(db, admin) == []  # nothing written by the preview

    done = _confirm(client, admin, html)
    assert done.status_code == 302
    saved = _items(db, admin)
    assert len(saved) == items and {i.kind for i in saved} == {"document"}
    pets = next(i for i in saved if i.title.endswith("Pet policy"))
    assert pets.title == "Living at Forge at the Lake — Pet policy" and "Dogs are welcome" in pets.body
    assert pets.location_id == admin.location.id
    assert "Imported from page" in client.get(done.headers["Location"]).get_data(as_text=True)

    conversation = talk.conversation(admin.account)
    talk.say(conversation, "are dogs allowed?")
    assert "Dogs are welcome and must be on a leash" in render_system_prompt(build_context(conversation))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "Enter the web page"),
        ("ftp://example.com/rules", "starting with http:// or https://"),
        ("not a web address", "starting with http:// or https://"),
        ("http://127.0.0.1:5432/", "inside this network"),
        ("http://10.1.2.3/page", "inside this network"),
        ("http://[::1]/", "inside this network"),
        ("http://169.254.169.254/latest/meta-data/", "inside this network"),
        ("http://user:secret@example.com/", "without a user name or password"),
        ("http://no-such-host.invalid/", "could not be found"),
        ("{sandbox}/site/nowhere/", "answered 404"),
        ("{sandbox}/site/forge-at-the-lake/rules.pdf", "not a web page"),
    ],
)
def test_a_web_address_that_cannot_be_read_is_a_form_error(client, ai_config, db, admin, sandbox_server, url, message):
    """Production's guard (ALLOW_PRIVATE_HOSTS off) refuses addresses inside the network; the sandbox's own pages
    are reached with it on, as in development."""
    ai_config(ALLOW_PRIVATE_HOSTS="inside this network" not in message)
    response = _preview(client, admin, "url", url=url.format(sandbox=sandbox_server.url))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in html and 'id="import-error"' in html
    assert _items(db, admin) == []


def test_a_pdf_is_imported_as_one_document_whose_passages_the_ai_gets(client, db, admin, sandbox_server):
    pdf = requests.get(f"{sandbox_server.url}/site/{FORGE}/rules.pdf", timeout=5).content
    preview = _preview(client, admin, "pdf", file=(__import__("io").BytesIO(pdf), "park-rules.pdf"))
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200, html
    assert _counts(html) == (1, 1, 0)
    assert _confirm(client, admin, html).status_code == 302
    [item] = _items(db, admin)
    assert item.kind == "document" and item.title == "Forge at the Lake park rules"
    assert "Dogs must be leashed in common areas" in item.body and "a $50 late fee" in item.body


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty"),
        (b"Lot,Price\n1,2\n", "not a PDF"),
        (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage", "could not be read"),
        (minimal_pdf([""]).replace(b"() Tj", b""), "No text was found"),
    ],
)
def test_a_bad_pdf_is_a_form_error(client, db, admin, content, message):
    import io

    response = _preview(client, admin, "pdf", file=(io.BytesIO(content), "rules.pdf"))
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert _items(db, admin) == []


def test_a_csv_of_listings_reports_each_bad_row_by_line_and_imports_the_rest(client, db, admin, sandbox_server):
    """The demo export: every home becomes a listing, the row whose price is 'call for price' is reported with its
    line number, the counts add up; importing it again updates the same lots instead of adding copies."""
    import io

    body = requests.get(f"{sandbox_server.url}/site/{FORGE}/listings.csv", timeout=5).content
    rows = body.decode().strip().splitlines()
    preview = _preview(client, admin, "csv", file=(io.BytesIO(body), "listings.csv"))
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200, html
    read, items, left = _counts(html)
    assert (read, items, left) == (len(rows) - 1, len(rows) - 2, 1)
    assert f"Line {len(rows)}: price “call for price” is not a number" in html
    assert _confirm(client, admin, html).status_code == 302
    saved = _items(db, admin)
    assert len(saved) == items and {i.kind for i in saved} == {"property"}
    first = rows[1].split(",")
    home = next(i for i in saved if str(i.data["lot"]) == first[0])
    assert home.data["price"] == int(first[4]) and home.data["beds"] == float(first[1])

    again = _preview(client, admin, "csv", file=(io.BytesIO(body), "listings.csv")).get_data(as_text=True)
    assert f"0 new, {items} updated" in again
    _confirm(client, admin, again)
    assert len(_items(db, admin)) == items


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "not text"),
        (b"colour,size\nred,9\n", "at least a lot or a title column"),
        (b"lot,price\n", "a header but no rows"),
    ],
)
def test_a_bad_csv_is_a_form_error(client, db, admin, content, message):
    import io

    response = _preview(client, admin, "csv", file=(io.BytesIO(content), "homes.csv"))
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_bad_rows_are_each_reported_and_none_is_lost(client, db, admin):
    import io

    content = (
        b"lot,beds,baths,price,status,year\n"
        b"1,3,2,79900,available,2019\n"
        b"\n"
        b"2,three,2,50000,available,2019\n"
        b"3,2,1,-5,available,2019\n"
        b"4,2,1,45000,for rent maybe,2019\n"
        b"5,2,1,45000,sold,1776\n"
        b",,,,,\n"
        b"1,2,2,60000,pending,2018\n"
        b'6,2,1,"$45,500",Pending,2020\n'
    )
    html = _preview(client, admin, "csv", file=(io.BytesIO(content), "homes.csv")).get_data(as_text=True)
    assert _counts(html) == (7, 2, 5)
    for expected in (
        "Line 4: beds “three” is not a number",
        "Line 5: price -5 is negative",
        "Line 6: status “for rent maybe” is not one of",
        "Line 7: year 1776 is not a year",
        "Line 9: lot 1 is also on line 2",
    ):
        assert expected in html
    _confirm(client, admin, html)
    assert sorted((i.data["lot"], i.data["price"], i.data["status"]) for i in _items(db, admin)) == [
        ("1", 79900, "available"),
        ("6", 45500, "pending"),
    ]


def test_the_form_refuses_what_it_cannot_use(client, db, admin, make):
    import io

    other = make.business()
    response = _preview(client, admin, "csv", location=str(other.location.id), file=(io.BytesIO(b"lot\n1\n"), "a.csv"))
    assert response.status_code == 400 and "Choose one of this agent&#39;s locations" in response.get_data(as_text=True)
    response = _preview(client, admin, "csv", location="", file=(io.BytesIO(b"lot\n1\n"), "a.csv"))
    assert response.status_code == 400 and "Choose the location the listings are at" in response.get_data(as_text=True)
    assert _preview(client, admin, "csv").status_code == 400  # no file
    assert _preview(client, admin, "spreadsheet").status_code == 400
    no_csrf = client.post(PAGE + "preview", data={"source": "url", "url": "https://example.com/"})
    assert no_csrf.status_code == 400
    assert client.post(PAGE + "confirm", data={"csrf_token": admin.csrf, "token": "x" * 30}).status_code == 302
    assert _items(db, admin) == []


def test_a_preview_is_imported_only_by_the_person_who_made_it(app, db, make, sandbox_server):
    client = own_browser(app)
    admin = make.business()
    login(client, admin.user.email)
    admin.csrf = csrf_from(client.get(PAGE).get_data(as_text=True))
    html = _preview(client, admin, "url", url=f"{sandbox_server.url}/site/{FORGE}/").get_data(as_text=True)
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)
    stranger = make.business()
    other = own_browser(app)
    login(other, stranger.user.email)
    csrf = csrf_from(other.get(PAGE).get_data(as_text=True))
    assert other.post(PAGE + "confirm", data={"csrf_token": csrf, "token": token}).status_code == 404
    assert _items(db, admin) == [] and _items(db, stranger) == []


def test_the_knowledge_list_leads_to_the_import(client, admin):
    page = client.get("/admin/knowledge/").get_data(as_text=True)
    assert 'id="knowledge-import-link"' in page and f'href="{PAGE}"' in page


def test_a_column_that_is_not_a_listing_field_is_named_and_the_counts_still_add_up(client, db, admin):
    import io

    content = b"Lot,Price,Colour\n1,50000,blue\n2,55000,red\n"
    html = _preview(client, admin, "csv", file=(io.BytesIO(content), "homes.csv")).get_data(as_text=True)
    assert _counts(html) == (2, 2, 0)
    assert "Line 1: column(s) Colour are not listing fields and were not read." in html
