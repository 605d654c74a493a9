"""`flask --app app chatpad simulate instagram --account @USERNAME --from NAME [--kind KIND] TEXT`: be an Instagram
customer from the terminal — DM an account, mention it in a story, reply to its story, unsend, edit.

Talks to the running sandbox over HTTP (SANDBOX_URL), which posts the signed object=instagram webhook to ChatPad;
then waits for the account's reply and prints it.
"""

from __future__ import annotations

import time

import click
import requests

from chatpad.sandbox.control_client import sandbox_url, simulate

from .instagram import EVENT_KINDS, INBOUND_ATTACHMENTS


@click.command("instagram")
@click.option("--account", required=True, help='The IG account: @username, id, or its Page\'s name ("@forgelakemhp").')
@click.option("--from", "sender", default="Jane Doe", show_default=True, help="The customer's name.")
@click.option("--kind", type=click.Choice(EVENT_KINDS), default="text", show_default=True)
@click.option("--type", "media_type", type=click.Choice(INBOUND_ATTACHMENTS), default="image", help="--kind attachment")
@click.option("--url", default=None, help="Attachment URL (--kind attachment).")
@click.option("--story", "story_id", default=None, help="The business's story to reply to (--kind story_reply).")
@click.option("--ttl", "ttl_seconds", type=float, default=None, help="Seconds a new story's link lives (default 24 h).")
@click.option("--target", "target_mid", default=None, help="The message to edit, unsend or react to (default: last).")
@click.option("--payload", default=None, help="Quick-reply or postback payload.")
@click.option("--wait", default=30.0, show_default=True, help="Seconds to wait for the account's reply (0: don't).")
@click.argument("text", required=False, default="")
def simulate_instagram(
    account: str,
    sender: str,
    kind: str,
    media_type: str,
    url: str | None,
    story_id: str | None,
    ttl_seconds: float | None,
    target_mid: str | None,
    payload: str | None,
    wait: float,
    text: str,
) -> None:
    """Act as a customer of an Instagram account through the sandbox, and print the account's reply."""
    base = sandbox_url()
    spec = {
        "account": account,
        "from": sender,
        "kind": kind,
        "text": text or None,
        "type": media_type,
        "url": url,
        "story_id": story_id,
        "ttl_seconds": ttl_seconds,
        "target_mid": target_mid,
        "payload": payload,
    }
    if kind == "postback":
        spec["title"] = text
    data = simulate(base, "/sandbox-api/meta/instagram/simulate", spec)
    click.echo(f"{sender} → @{data['username']}: {text or kind}")
    if data.get("story_url"):
        click.echo(f"  story {data['story_id']}: {data['story_url']}")
    for delivery in data.get("deliveries", []):
        attempt = (delivery.get("attempts") or [{}])[-1]
        if delivery["state"] == "delivered":
            click.echo(f"  webhook delivered to {delivery['url']} (HTTP 200)")
        elif delivery["state"] == "no_target":
            click.echo("  no webhook target: set PUBLIC_URL for the sandbox", err=True)
        else:
            problem = attempt.get("error") or attempt.get("status")
            click.echo(f"  webhook to {delivery['url']} failed ({problem}); the sandbox retries like Meta", err=True)
    if wait > 0:
        _await_reply(base, data["account_id"], data["igsid"], data["username"], sender, wait)


def _await_reply(base: str, account_id: str, igsid: str, username: str, sender: str, wait: float) -> None:
    """Print the account's messages newer than now until the replies stop (2 s of quiet) or `wait` runs out."""
    since = int(time.time() * 1000) - 5000
    seen: set[str] = set()
    deadline = time.monotonic() + wait
    quiet_until: float | None = None
    click.echo(f"  waiting up to {wait:g} s for @{username} to answer…")
    while time.monotonic() < deadline and (quiet_until is None or time.monotonic() < quiet_until):
        thread = requests.get(
            f"{base}/sandbox-api/meta/instagram/thread", params={"account": account_id, "igsid": igsid}, timeout=10
        ).json()
        for message in thread.get("messages", []):
            if message["sender"] != "page" or message["mid"] in seen or message["timestamp"] < since:
                continue
            seen.add(message["mid"])
            shown = message.get("text") or ", ".join(a["type"] for a in message.get("attachments", [])) or "…"
            click.echo(f"@{username} → {sender}: {shown}")
            for reply in message.get("quick_replies") or []:
                click.echo(f"    [{reply.get('title')}]")
            quiet_until = time.monotonic() + 2
        time.sleep(0.5)
    if not seen:
        click.echo("  no reply yet (is the worker running? see the sandbox's /instagram page)", err=True)
