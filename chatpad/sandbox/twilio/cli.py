"""`flask --app app chatpad simulate sms --location NAME --from +1… TEXT`: text a community's number as a customer.

Talks to the running sandbox over HTTP (SANDBOX_URL), whose Twilio posts the signed webhook to ChatPad; then waits for
the number's reply and prints it.
"""

from __future__ import annotations

import time

import click
import requests

from chatpad.sandbox.control_client import sandbox_url, simulate


@click.command("sms")
@click.option("--location", required=True, help='The community ("Forge at the Lake") or its number.')
@click.option("--from", "sender", default="+15125550123", show_default=True, help="Your phone number (E.164).")
@click.option("--photo", is_flag=True, help="Attach a photo (MMS).")
@click.option("--wait", default=30.0, show_default=True, help="Seconds to wait for the reply (0: don't).")
@click.argument("text", required=False, default="")
def simulate_sms(location: str, sender: str, photo: bool, wait: float, text: str) -> None:
    """Text TEXT to a community's number as a customer, through the sandbox's Twilio, and print the reply."""
    base = sandbox_url()
    spec = {"location": location, "from": sender, "text": text, "photo": photo, "wait": True}
    data = simulate(base, "/sandbox-api/twilio/simulate", spec)
    click.echo(f"{data['from']} → {data['number']}: {text or '(photo)'}")
    delivery = data["delivery"]
    attempt = (delivery.get("attempts") or [{}])[-1]
    if delivery["state"] == "delivered":
        click.echo(f"  webhook delivered to {delivery['url']} (HTTP {attempt.get('status')})")
        if delivery.get("response_error"):
            click.echo(f"  but Twilio would log error {delivery['response_error']}", err=True)
    elif delivery["state"] == "no_target":
        click.echo(
            "  this number has no webhook URL (connect it in ChatPad, or set PUBLIC_URL for the sandbox)", err=True
        )
    else:
        click.echo(f"  webhook to {delivery['url']} failed ({attempt.get('error') or attempt.get('status')})", err=True)
    if data.get("automatic_reply"):
        click.echo(f"{data['number']} (Twilio, automatic) → {data['from']}: {data['automatic_reply']}")
    if wait > 0:
        _await_reply(base, location, data["from"], data["number"], wait)


def _await_reply(base: str, location: str, customer: str, number: str, wait: float) -> None:
    """Print the number's texts newer than now until they stop (2 s of quiet) or `wait` runs out."""
    since = int(time.time() * 1000) - 2000
    seen: set[str] = set()
    deadline = time.monotonic() + wait
    quiet_until: float | None = None
    click.echo(f"  waiting up to {wait:g} s for {number} to answer…")
    while time.monotonic() < deadline and (quiet_until is None or time.monotonic() < quiet_until):
        thread = requests.get(
            f"{base}/sandbox-api/twilio/thread",
            params={"location": location, "from": customer, "since": since},
            timeout=10,
        ).json()
        for message in thread.get("messages", []):
            if message["sender"] != "business" or message["sid"] in seen or message.get("automatic"):
                continue
            seen.add(message["sid"])
            click.echo(f"{number} → {customer}: {message.get('body') or '(media)'}")
            quiet_until = time.monotonic() + 2
        time.sleep(0.5)
    if not seen:
        click.echo("  no reply yet (is the worker running? see the sandbox's /sms page)", err=True)
