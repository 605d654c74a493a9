"""`flask --app app chatpad simulate whatsapp --location NAME --from +1… TEXT`: write to a community's WhatsApp
number as a customer, through the sandbox's Cloud API (SANDBOX_URL), which posts the signed webhook to ChatPad; then
wait for the number's reply and print it."""

from __future__ import annotations

import time

import click
import requests

from chatpad.sandbox.control_client import sandbox_url, simulate


@click.command("whatsapp")
@click.option("--location", required=True, help='The community ("Forge at the Lake"), its slug or its number.')
@click.option("--from", "sender", default="+15125550123", show_default=True, help="Your WhatsApp number (E.164).")
@click.option("--photo", is_flag=True, help="Send a photo (its caption is TEXT).")
@click.option("--wait", default=30.0, show_default=True, help="Seconds to wait for the reply (0: don't).")
@click.argument("text", required=False, default="")
def simulate_whatsapp(location: str, sender: str, photo: bool, wait: float, text: str) -> None:
    """Write TEXT to a community's WhatsApp number as a customer and print the reply."""
    base = sandbox_url()
    spec = {"location": location, "from": sender, "text": text, "photo": photo}
    data = simulate(base, "/sandbox-api/whatsapp/simulate", spec)
    click.echo(f"{data['from']} → {data['number']} (WhatsApp): {text or '(photo)'}")
    delivery = data["delivery"]
    attempt = (delivery.get("attempts") or [{}])[-1]
    if delivery["state"] == "delivered":
        click.echo(f"  webhook delivered to {delivery['url']} (HTTP {attempt.get('status')})")
    elif delivery["state"] == "no_target":
        click.echo("  no webhook URL for WhatsApp (set PUBLIC_URL for the sandbox)", err=True)
    else:
        click.echo(f"  webhook to {delivery['url']} failed ({attempt.get('error') or attempt.get('status')})", err=True)
    if wait <= 0:
        return
    seen: set[str] = set()
    deadline, quiet_until = time.monotonic() + wait, None
    click.echo(f"  waiting up to {wait:g} s for {data['number']} to answer…")
    while time.monotonic() < deadline and (quiet_until is None or time.monotonic() < quiet_until):
        thread = requests.get(
            f"{base}/sandbox-api/whatsapp/thread", params={"location": location, "from": sender}, timeout=10
        ).json()
        for message in thread.get("messages", []):
            if message["sender"] != "business" or message["id"] in seen or message["at"] < time.time() - wait - 5:
                continue
            seen.add(message["id"])
            click.echo(f"{data['number']} → {data['from']}: {_text(message)}")
            quiet_until = time.monotonic() + 2
        time.sleep(0.5)
    if not seen:
        click.echo("  no reply yet (is the worker running?)", err=True)


def _text(message: dict) -> str:
    kind = message.get("type")
    block = message.get(kind) or {}
    if kind == "text":
        return str(block.get("body") or "")
    if kind == "interactive":
        action = block.get("action") or {}
        options = [b["reply"]["title"] for b in action.get("buttons") or []] or [
            r["title"] for s in action.get("sections") or [] for r in s.get("rows") or []
        ]
        return f"{(block.get('body') or {}).get('text', '')} [{' | '.join(options)}]"
    return f"({kind})"
