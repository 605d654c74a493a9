"""The sandbox's demo community pages to import as knowledge (Setup → Import knowledge, docs/ai.md).

/site/ lists the demo communities; /site/<slug>/ is a community's "Living here" page, the kind of page a business
already has: navigation, a header and a footer around sections under headings (pets, amenities, rent and fees,
rules, directions), which the importer keeps as one knowledge item per section. /site/<slug>/listings.csv is the
community's homes as a spreadsheet export (one row with an error in it, as real exports have) and
/site/<slug>/rules.pdf its park rules as a PDF, both to download and upload on the same page.
"""

from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, abort, render_template

from chatpad import demo_data as D

bp = Blueprint("sandbox_site", __name__, url_prefix="/site")


def _location(slug: str) -> D.DemoLocation:
    location = next((loc for loc in D.LOCATIONS if loc.slug == slug), None)
    if location is None:
        abort(404)
    return location


def park_rules(location: D.DemoLocation) -> list[tuple[str, str]]:
    """The demo park rules, as (heading, text)."""
    return [
        ("Pets", "Up to two pets per home. Dogs must be leashed in common areas and owners clean up after them."),
        ("Quiet hours", "Quiet hours are 10 PM to 7 AM. Parties in the clubhouse end by 10 PM."),
        ("Vehicles", f"The speed limit in {location.name} is 10 mph. Each home has two parking spaces."),
        ("Home exteriors", "Skirting, steps and decks are kept in good repair; sheds need the office's approval."),
        ("Rent", f"Lot rent is ${location.lot_rent} a month, due on the 1st; a $50 late fee applies after the 5th."),
    ]


@bp.get("/")
def index():
    return render_template("sandbox/site_index.html", locations=D.LOCATIONS)


@bp.get("/<slug>/")
def page(slug: str):
    """A community's 'Living here' page."""
    location = _location(slug)
    return render_template("sandbox/site_page.html", location=location, rules=park_rules(location))


@bp.get("/<slug>/listings.csv")
def listings_csv(slug: str):
    """The community's homes as a CSV export, with one row the importer must report (a price that is not one)."""
    location = _location(slug)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Lot", "Beds", "Baths", "Sq Ft", "Price", "Year", "Status", "Description"])
    for home in D.location_listings(location):
        data = home["data"]
        row = [data["lot"], data["beds"], data["baths"], data["sqft"], data["price"], data.get("year", "")]
        writer.writerow([*row, data["status"], home.get("body", "")])
    writer.writerow(["88", "3", "2", "1350", "call for price", "2021", "available", "New home on a corner lot."])
    body = out.getvalue()
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{slug}-listings.csv"'},
    )


@bp.get("/<slug>/rules.pdf")
def rules_pdf(slug: str):
    location = _location(slug)
    lines = [f"{location.name} park rules", ""]
    for heading, text in park_rules(location):
        lines += [heading, text, ""]
    return Response(
        minimal_pdf(lines, title=f"{location.name} park rules"),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{slug}-rules.pdf"'},
    )


def _pdf_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def minimal_pdf(lines: list[str], title: str | None = None) -> bytes:
    """A one-page PDF of text lines in Helvetica (long lines wrapped): what a PDF reader's text extraction reads."""
    wrapped: list[str] = []
    for line in lines:
        while len(line) > 90:
            cut = line.rfind(" ", 0, 90)
            cut = cut if cut > 0 else 90
            wrapped.append(line[:cut])
            line = line[cut:].lstrip()
        wrapped.append(line)
    stream = "BT /F1 11 Tf 14 TL 56 790 Td\n" + "".join(f"({_pdf_text(t)}) Tj T*\n" for t in wrapped) + "ET"
    stream_bytes = stream.encode("latin-1", errors="replace")
    info = f"<< /Title ({_pdf_text(title)}) >>" if title else "<< >>"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        None,  # the content stream
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        info,
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        if body is None:
            out += f"{number} 0 obj\n<< /Length {len(stream_bytes)} >>\nstream\n".encode()
            out += stream_bytes + b"\nendstream\nendobj\n"
        else:
            out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1", errors="replace")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 6 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
