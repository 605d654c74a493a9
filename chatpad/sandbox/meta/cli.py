"""`flask --app app chatpad simulate facebook --page PAGE --from NAME TEXT`: be a customer, from the terminal.

Talks to the running sandbox over HTTP (SANDBOX_URL), which posts the signed webhook to ChatPad; then waits for the
Page's reply and prints it.
"""

from __future__ import annotations

import time

import click
import requests

from chatpad.sandbox.control_client import sandbox_url, simulate


@click.command("facebook")
@click.option("--page", "page", required=True, help='The Page\'s name or id, e.g. "Forge Lake Community".')
@click.option("--from", "sender", default="Jane Doe", show_default=True, help="The customer's name.")
@click.option(
    "--kind",
    type=click.Choice(["text", "quick_reply", "postback", "get_started", "attachment", "sticker", "referral"]),
    default="text",
    show_default=True,
)
@click.option("--payload", default=None, help="Quick-reply or postback payload.")
@click.option("--url", default=None, help="Attachment URL (--kind attachment).")
@click.option("--wait", default=30.0, show_default=True, help="Seconds to wait for the Page's reply (0: don't).")
@click.argument("text", required=False, default="")
def simulate_facebook(
    page: str, sender: str, kind: str, payload: str | None, url: str | None, wait: float, text: str
) -> None:
    """Send TEXT to a Facebook Page as a customer, through the sandbox, and print the Page's reply."""
    base = sandbox_url()
    spec = {"page": page, "from": sender, "kind": kind, "text": text or None, "payload": payload, "url": url}
    if kind == "postback":
        spec["title"] = text
    data = simulate(base, "/sandbox-api/meta/simulate", spec)
    click.echo(f"{sender} → {data['page']}: {text or kind}")
    for delivery in data.get("deliveries", []):
        attempt = (delivery.get("attempts") or [{}])[-1]
        if delivery["state"] == "delivered":
            click.echo(f"  webhook delivered to {delivery['url']} (HTTP 200)")
        elif delivery["state"] == "no_target":
            click.echo("  no webhook target: set PUBLIC_URL for the sandbox", err=True)
        else:
            problem = attempt.get("error") or attempt.get("status")
            click.echo(f"  webhook to {delivery['url']} failed ({problem}); the sandbox retries like Meta", err=True)
    if data.get("skipped"):
        click.echo(f"  {data['skipped']}", err=True)
    if wait <= 0:
        return
    _await_reply(base, data["page_id"], data["psid"], data["page"], sender, wait)


def _await_reply(base: str, page_id: str, psid: str, page_name: str, sender: str, wait: float) -> None:
    """Print the Page's messages newer than now until the replies stop (2 s of quiet) or `wait` runs out."""
    since = int(time.time() * 1000) - 5000
    seen: set[str] = set()
    deadline = time.monotonic() + wait
    quiet_until: float | None = None
    click.echo(f"  waiting up to {wait:g} s for {page_name} to answer…")
    while time.monotonic() < deadline and (quiet_until is None or time.monotonic() < quiet_until):
        thread = requests.get(
            f"{base}/sandbox-api/meta/thread", params={"page": page_id, "psid": psid, "since": since}, timeout=10
        ).json()
        for message in thread.get("messages", []):
            if message["sender"] != "page" or message["mid"] in seen:
                continue
            seen.add(message["mid"])
            text = message.get("text") or ", ".join(a["type"] for a in message.get("attachments", [])) or "…"
            click.echo(f"{page_name} → {sender}: {text}")
            for reply in message.get("quick_replies") or []:
                click.echo(f"    [{reply.get('title')}]")
            for button in (message.get("template") or {}).get("buttons", []):
                click.echo(f"    ({button.get('title')})")
            quiet_until = time.monotonic() + 2
        time.sleep(0.5)
    if not seen:
        click.echo("  no reply yet (is the worker running? see the sandbox's /messenger page)", err=True)
