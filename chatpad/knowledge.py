"""Knowledge import: a web page, a PDF or a CSV of listings read into knowledge items an admin previews first.

Each reader returns an ImportPlan: the items it would create or update and every part it could not use, with the
reason (a CSV row with its line number), so what the preview counts adds up to what was read and nothing is lost
silently. Bad input raises ImportRefused with a sentence for the form; nothing here answers a 500 for a bad file.

- A web page (fetch_page): fetched with requests through the shared outbound address guard (chatpad.security: no
  private, loopback or link-local addresses, so an admin's URL cannot reach this network's own services; on in
  production, ALLOW_PRIVATE_HOSTS lets the sandbox's demo page through in development), at most PAGE_MAX_BYTES
  within PAGE_TIMEOUT seconds, redirects followed by hand (each hop checked). Its main text (script, style, navigation,
  header, footer, forms and asides dropped; <main> or <article> preferred) is split at its headings: each section a
  "document" item, which retrieval cuts into passages if it is long.
- A PDF (read_pdf): pypdf's text of every page, lines joined into paragraphs, one "document" item.
- A CSV of listings (read_listings_csv): the listing fields the product has (lot, title, beds, baths, sqft, price,
  year, status, description). A row whose lot is already listed at that location updates it.
"""

from __future__ import annotations

import csv
import io
import re
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from chatpad.security import OutboundAddressRefused, checked_addresses, guard_session

PAGE_MAX_BYTES = 2 * 1024 * 1024
PAGE_TIMEOUT = 10.0
PAGE_REDIRECTS = 3
PDF_MAX_PAGES = 300
CSV_MAX_ROWS = 5000
LISTING_STATUSES = ("available", "pending", "sold", "rented", "off_market")
LISTING_FIELDS = ("lot", "title", "beds", "baths", "sqft", "price", "year", "status", "description")
# Header names people use for the same field.
HEADER_ALIASES = {
    "lot": "lot",
    "lot number": "lot",
    "lot #": "lot",
    "site": "lot",
    "title": "title",
    "name": "title",
    "beds": "beds",
    "bedrooms": "beds",
    "br": "beds",
    "baths": "baths",
    "bathrooms": "baths",
    "ba": "baths",
    "sqft": "sqft",
    "sq ft": "sqft",
    "square feet": "sqft",
    "price": "price",
    "asking price": "price",
    "year": "year",
    "year built": "year",
    "status": "status",
    "description": "description",
    "body": "description",
    "notes": "description",
}


class ImportRefused(ValueError):
    """Input that cannot be imported at all; the message is for the admin's form."""


@dataclass
class PlannedItem:
    """One knowledge item the import would write."""

    kind: str  # document | property
    title: str
    body: str
    data: dict[str, Any] = field(default_factory=dict)
    line: int | None = None  # the CSV line it came from
    existing_id: int | None = None  # an item it updates (a listing with the same lot)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "body": self.body,
            "data": self.data,
            "line": self.line,
            "existing_id": self.existing_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlannedItem:
        return cls(**{k: data.get(k) for k in ("kind", "title", "body", "line", "existing_id")}, data=data["data"])


@dataclass
class ImportPlan:
    """What an import would do: items, and the parts left out with their reasons. Every part read is either an item
    or a problem: read == len(items) + len(problems). Notes say what holds nothing to import (a PDF's page without
    text, a CSV column that is not a listing field)."""

    source: str  # "page https://…", "PDF rules.pdf", "CSV listings.csv"
    items: list[PlannedItem] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "Line 7: price 'abc' is not a number"
    read: int = 0  # sections / documents / rows read
    unit: str = "sections"
    notes: list[str] = field(default_factory=list)  # what was read but holds nothing (a page without text, a column)

    @property
    def updates(self) -> int:
        return sum(1 for i in self.items if i.existing_id)

    @property
    def creates(self) -> int:
        return len(self.items) - self.updates

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "items": [i.as_dict() for i in self.items],
            "problems": self.problems,
            "read": self.read,
            "unit": self.unit,
            "notes": self.notes,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImportPlan:
        return cls(
            source=data["source"],
            items=[PlannedItem.from_dict(i) for i in data["items"]],
            problems=list(data["problems"]),
            read=int(data["read"]),
            unit=data.get("unit", "sections"),
            notes=list(data.get("notes", [])),
        )


# --- web pages ---


def _check_address(url: str, allow_private: bool | None) -> None:
    """Refuse a URL that is not http(s), carries credentials, or whose host resolves to an address of this network
    (chatpad.security.checked_addresses: private, loopback, link-local, metadata, reserved)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImportRefused("Enter a web address starting with http:// or https://.")
    if parts.username or parts.password:
        raise ImportRefused("Enter the address without a user name or password in it.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        checked_addresses(parts.hostname, port, allow_private=allow_private)
    except OutboundAddressRefused:
        raise ImportRefused(
            f"{parts.hostname} is an address inside this network; only public pages can be read."
        ) from None
    except (socket.gaierror, UnicodeError, ValueError):
        raise ImportRefused(f"{parts.hostname} could not be found: check the address.") from None


def fetch_page(url: str, *, allow_private: bool | None = None, timeout: float = PAGE_TIMEOUT) -> ImportPlan:
    """Fetch a public web page and plan its sections as document items. Raises ImportRefused for an address that
    cannot be read (with why). Each hop is checked, and the connection goes to the checked address (the shared
    outbound guard, chatpad.security.guard_session), so a DNS answer that changes cannot reach inside."""
    url = (url or "").strip()
    if len(url) > 2000:
        raise ImportRefused("That address is too long.")
    session = guard_session(requests.Session(), allow_private=allow_private)
    current = url
    try:
        for _ in range(PAGE_REDIRECTS + 1):
            _check_address(current, allow_private)
            try:
                response = session.get(
                    current,
                    timeout=(min(5.0, timeout), timeout),
                    stream=True,
                    allow_redirects=False,
                    headers={"User-Agent": "ChatPad knowledge import", "Accept": "text/html,text/plain;q=0.8"},
                )
            except OutboundAddressRefused:
                raise ImportRefused("That address is inside this network; only public pages can be read.") from None
            except requests.Timeout:
                raise ImportRefused("The page took too long to answer.") from None
            except requests.RequestException as exc:
                raise ImportRefused(f"The page could not be reached ({type(exc).__name__}).") from None
            if response.is_redirect and response.headers.get("Location"):
                current = urljoin(current, response.headers["Location"])
                response.close()
                continue
            break
        else:
            raise ImportRefused("The page redirects too many times.")
        with response:
            if response.status_code != 200:
                raise ImportRefused(f"The page answered {response.status_code} {response.reason or ''}".strip() + ".")
            kind = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if kind not in ("text/html", "application/xhtml+xml", "text/plain", ""):
                raise ImportRefused(f"That address is not a web page (it is {kind}); upload a PDF as a file.")
            body = b""
            try:
                for chunk in response.iter_content(65536):
                    body += chunk
                    if len(body) > PAGE_MAX_BYTES:
                        raise ImportRefused(f"The page is larger than {PAGE_MAX_BYTES // (1024 * 1024)} MB.")
            except requests.RequestException:
                raise ImportRefused("The page stopped answering before it was read.") from None
            encoding = response.encoding or "utf-8"
    finally:
        session.close()
    try:
        text = body.decode(encoding, errors="replace")
    except LookupError:  # a charset Python does not know
        text = body.decode("utf-8", errors="replace")
    if kind == "text/plain":
        return _plan_sections(f"page {url}", url, [(None, text.strip())])
    title, sections = html_sections(text)
    return _plan_sections(f"page {url}", title or url, sections)


_DROP_TAGS = ("script", "style", "noscript", "template", "svg", "iframe", "nav", "header", "footer", "aside", "form")
_HEADINGS = ("h1", "h2", "h3", "h4")
_BLOCKS = ("p", "li", "dd", "dt", "blockquote", "pre", "td", "th", "figcaption", "address")


def html_sections(html: str) -> tuple[str | None, list[tuple[str | None, str]]]:
    """A page's title and its main text as (heading, text) sections, split at h1–h4."""
    import lxml.html
    from lxml import etree

    try:
        root = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        raise ImportRefused("The page could not be read as HTML.") from None
    title_el = root.find(".//title")
    title = " ".join(title_el.text_content().split()) if title_el is not None else None
    for bad in root.xpath("|".join(f"//{t}" for t in _DROP_TAGS) + "|//*[@role='navigation']|//*[@hidden]"):
        bad.drop_tree()
    main = (root.xpath("//main") or root.xpath("//article") or root.xpath("//*[@role='main']") or [root])[0]
    sections: list[tuple[str | None, str]] = []
    heading: str | None = None
    level = 0
    parents: dict[int, str] = {}  # a heading with only deeper headings under it ("Community rules" > "Pets")
    paragraphs: list[str] = []
    for element in main.iter(*_HEADINGS, *_BLOCKS):
        if element.tag in _BLOCKS and any(a.tag in _BLOCKS for a in element.iterancestors()):
            continue  # a <p> inside an <li>: its text is in the outer block
        text = " ".join(element.text_content().split())
        if not text:
            continue
        if element.tag in _HEADINGS:
            new_level = int(element.tag[1])
            parents = {k: v for k, v in parents.items() if k < new_level}
            if heading and not paragraphs and new_level > level:
                parents[level] = heading  # its sections are under it: not a section of its own
            elif paragraphs or heading:
                sections.append((heading, "\n\n".join(paragraphs)))
            trail = [parents[k] for k in sorted(parents) if k < new_level]
            heading, level, paragraphs = " — ".join([*trail, text]), new_level, []
        else:
            paragraphs.append(("• " if element.tag == "li" else "") + text)
    if paragraphs or heading:
        sections.append((heading, "\n\n".join(paragraphs)))
    if not any(text for _, text in sections):
        raise ImportRefused("No text was found on that page.")
    return title, sections


def _plan_sections(source: str, title: str, sections: list[tuple[str | None, str]]) -> ImportPlan:
    plan = ImportPlan(source=source, read=len(sections), unit="sections")
    title = title[:200]
    for heading, text in sections:
        if not text.strip():
            plan.problems.append(f"Section \u201c{heading}\u201d has a heading but no text.")
            continue
        name = heading if heading and heading.lower() != title.lower() else None
        item_title = f"{title} — {name}" if name else title
        plan.items.append(PlannedItem(kind="document", title=item_title[:300], body=text.strip()))
    return plan


# --- PDF ---


def read_pdf(data: bytes, filename: str = "document.pdf") -> ImportPlan:
    """A PDF's text as one document item (retrieval cuts it into passages). Pages without text are reported."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    if not data:
        raise ImportRefused("The file is empty.")
    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise ImportRefused("That file is not a PDF.")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ImportRefused("The PDF is password-protected; save an unprotected copy and upload that.")
        pages = list(reader.pages)
        if len(pages) > PDF_MAX_PAGES:
            raise ImportRefused(f"The PDF has {len(pages)} pages; at most {PDF_MAX_PAGES} can be imported at once.")
        texts = [page.extract_text() or "" for page in pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or None
    except ImportRefused:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, IndexError, AttributeError, OSError):
        raise ImportRefused("The PDF could not be read (it may be damaged).") from None
    plan = ImportPlan(source=f"PDF {filename}", read=1, unit="PDF documents")
    paragraphs: list[str] = []
    for number, text in enumerate(texts, start=1):
        if not text.strip():
            plan.notes.append(f"Page {number} of {len(texts)} has no text (a scanned image is not read).")
            continue
        paragraphs.extend(_paragraphs(text))
    if not paragraphs:
        raise ImportRefused("No text was found in the PDF (a scanned image is not read).")
    stem = re.sub(r"\.pdf$", "", filename, flags=re.IGNORECASE).replace("_", " ").replace("-", " ").strip()
    title = str(meta_title or stem or "Document")[:300]
    body = "\n\n".join(paragraphs)
    plan.items.append(PlannedItem(kind="document", title=title, body=body, data={"pages": len(texts)}))
    return plan


def _paragraphs(text: str) -> list[str]:
    """Lines of extracted text joined into paragraphs: a blank line, or a short line (a heading) ends one."""
    out: list[str] = []
    current: list[str] = []
    for raw in text.splitlines():
        line = " ".join(raw.split())
        if not line:
            if current:
                out.append(" ".join(current))
                current = []
            continue
        if len(line) <= 60 and not line.endswith((".", ",", ";")) and not current:
            out.append(line)  # a heading on its own line
            continue
        current.append(line)
        if line.endswith((".", "!", "?", ":")) and len(line) < 60:
            out.append(" ".join(current))
            current = []
    if current:
        out.append(" ".join(current))
    return out


# --- CSV of listings ---


def _number(value: str, name: str, *, integer: bool = False) -> float | int | None:
    cleaned = value.replace(",", "").replace("$", "").strip()
    if not cleaned:
        return None
    try:
        number = float(cleaned)
    except ValueError:
        raise ValueError(f"{name} \u201c{value}\u201d is not a number") from None
    if number < 0:
        raise ValueError(f"{name} {value} is negative")
    if integer:
        if not number.is_integer():
            raise ValueError(f"{name} \u201c{value}\u201d is not a whole number")
        return int(number)
    return int(number) if number.is_integer() else number


def read_listings_csv(data: bytes, existing_lots: dict[str, int], filename: str = "listings.csv") -> ImportPlan:
    """Listings from a CSV with a header row. `existing_lots` maps a lot already listed at the location to its
    item id (that row updates it). Every row is either planned or reported with its line number."""
    if not data.strip():
        raise ImportRefused("The file is empty.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            raise ImportRefused("The file is not text: save the spreadsheet as CSV (UTF-8).") from None
    if "\x00" in text:
        raise ImportRefused("The file is not text: save the spreadsheet as CSV (UTF-8).")
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise ImportRefused(f"The CSV could not be read: {exc}.") from None
    if not rows:
        raise ImportRefused("The file is empty.")
    header = [HEADER_ALIASES.get(" ".join(h.strip().lower().split()), "") for h in rows[0]]
    unknown = [rows[0][i].strip() for i, h in enumerate(header) if not h and rows[0][i].strip()]
    if "lot" not in header and "title" not in header:
        raise ImportRefused(
            "The first row must name the columns, with at least a lot or a title column. Columns: "
            + ", ".join(LISTING_FIELDS)
            + "."
        )
    if len(rows) - 1 > CSV_MAX_ROWS:
        raise ImportRefused(f"The file has {len(rows) - 1} rows; at most {CSV_MAX_ROWS} can be imported at once.")
    plan = ImportPlan(source=f"CSV {filename}", read=0, unit="rows")
    if unknown:
        plan.notes.append(f"Line 1: column(s) {', '.join(unknown)} are not listing fields and were not read.")
    seen: dict[str, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue  # a blank line is not a row
        plan.read += 1
        values = {name: row[i].strip() for i, name in enumerate(header) if name and i < len(row)}
        try:
            item = _listing(values, line)
        except ValueError as exc:
            plan.problems.append(f"Line {line}: {exc}.")
            continue
        lot = item.data.get("lot")
        if lot:
            if lot.lower() in seen:
                plan.problems.append(
                    f"Line {line}: lot {lot} is also on line {seen[lot.lower()]}; only the first is used."
                )
                continue
            seen[lot.lower()] = line
            item.existing_id = existing_lots.get(lot.lower())
        plan.items.append(item)
    if plan.read == 0:
        raise ImportRefused("The file has a header but no rows.")
    return plan


def _listing(values: dict[str, str], line: int) -> PlannedItem:
    lot = values.get("lot", "")
    if len(lot) > 20:
        raise ValueError(f"lot \u201c{lot[:20]}…\u201d is longer than 20 characters")
    title = values.get("title", "")
    if not lot and not title:
        raise ValueError("neither a lot nor a title")
    status = (values.get("status") or "available").strip().lower().replace(" ", "_").replace("-", "_")
    if status not in LISTING_STATUSES:
        raise ValueError(f"status \u201c{values.get('status')}\u201d is not one of {', '.join(LISTING_STATUSES)}")
    data: dict[str, Any] = {"status": status}
    if lot:
        data["lot"] = lot
    for name in ("beds", "baths"):
        number = _number(values.get(name, ""), name)
        if number is not None:
            if number > 20:
                raise ValueError(f"{name} {values[name]} is more than 20")
            data[name] = number
    for name in ("sqft", "price", "year"):
        number = _number(values.get(name, ""), name, integer=True)
        if number is not None:
            data[name] = number
    if "year" in data and not 1900 <= data["year"] <= 2100:
        raise ValueError(f"year {data['year']} is not a year")
    if not title:
        beds = f" — {data['beds']}BR" if "beds" in data else ""
        baths = f"/{data['baths']}BA" if "baths" in data and beds else ""
        title = f"Lot {lot}{beds}{baths}"
    if len(title) > 300:
        raise ValueError("the title is longer than 300 characters")
    return PlannedItem(kind="property", title=title, body=values.get("description", ""), data=data, line=line)
