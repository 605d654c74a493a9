"""How an inbox is reached: host, port and security of its IMAP and SMTP servers, and how it signs in.

Kept in SocialAccount.meta (never a secret: the password or OAuth tokens live in the encrypted access_token and
refresh_token columns). One dataclass is shared by the sync job, the sender, test_connection and the CLI.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

PROVIDERS = ("imap", "google", "microsoft")
SECURITY = ("ssl", "starttls", "none")  # ssl = implicit TLS (993/465); starttls = upgrade (143/587); none = plain

# Where each provider's servers are (platform-reference.md §D.1, §D.2).
PROVIDER_SERVERS: dict[str, dict[str, Any]] = {
    "google": {
        "imap_host": "imap.gmail.com",
        "imap_port": 993,
        "imap_security": "ssl",
        "smtp_host": "smtp.gmail.com",
        "smtp_port": 465,
        "smtp_security": "ssl",
    },
    "microsoft": {
        "imap_host": "outlook.office365.com",
        "imap_port": 993,
        "imap_security": "ssl",
        "smtp_host": "smtp.office365.com",
        "smtp_port": 587,
        "smtp_security": "starttls",
    },
}


# The config keys that say where a provider's servers are ("host:port:security"; config.py). Development points them at
# the sandbox mail server, which checks the sandbox's XOAUTH2 tokens.
SERVER_CONFIG_KEYS = {
    "google": {"imap": "GOOGLE_IMAP_SERVER", "smtp": "GOOGLE_SMTP_SERVER"},
    "microsoft": {"imap": "MICROSOFT_IMAP_SERVER", "smtp": "MICROSOFT_SMTP_SERVER"},
}


def provider_servers(provider: str, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Host, port and security of a provider's IMAP and SMTP servers: PROVIDER_SERVERS, with each server replaced by
    its config value ("host:port:security") when set. A malformed value is a SettingsError naming the key."""
    servers = dict(PROVIDER_SERVERS[provider])
    for proto, key in SERVER_CONFIG_KEYS.get(provider, {}).items():
        value = str((config or {}).get(key) or "").strip()
        if not value:
            continue
        parts = value.split(":")
        host, port = parts[0], parts[1] if len(parts) > 1 else ""
        security = parts[2] if len(parts) > 2 else (default_security(int(port), proto) if port.isdigit() else "")
        if len(parts) > 3 or not host or not port.isdigit() or security not in SECURITY:
            raise SettingsError(f"{key} must be host:port:security (security one of {', '.join(SECURITY)})")
        servers.update({f"{proto}_host": host, f"{proto}_port": int(port), f"{proto}_security": security})
    return servers


class SettingsError(ValueError):
    """The inbox settings are incomplete or unsafe; the message says which field."""


def default_security(port: int, protocol: str) -> str:
    """The usual security for a well-known port: implicit TLS on 993/465, STARTTLS elsewhere."""
    return "ssl" if port in (993, 465) else "starttls"


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class MailSettings:
    """One inbox's servers. auth is "password" (an app password) or "oauth" (XOAUTH2 with the access token)."""

    address: str
    imap_host: str
    imap_port: int
    smtp_host: str
    smtp_port: int
    imap_security: str = "ssl"
    smtp_security: str = "starttls"
    username: str = ""
    provider: str = "imap"
    auth: str = "password"
    folder: str = "INBOX"
    sent_folder: str | None = None  # None: found by SPECIAL-USE \Sent, then by common names
    backfill_days: int = 7
    # Put a copy of each reply in the Sent folder. None: yes, except Gmail and Microsoft 365, whose SMTP servers
    # already file what they send (Exchange Online since 2018: "Sent email will now be stored in the Sent Items
    # folder", techcommunity.microsoft.com/t5/exchange-team-blog/ba-p/607825), so a copy of ours would be a duplicate.
    append_sent: bool | None = None
    sandbox: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.address = (self.address or "").strip().lower()
        self.username = (self.username or self.address).strip()
        self.imap_port = int(self.imap_port)
        self.smtp_port = int(self.smtp_port)
        self.backfill_days = int(self.backfill_days)

    @classmethod
    def from_meta(cls, address: str, meta: dict[str, Any] | None) -> MailSettings:
        """Settings from a SocialAccount's metadata; provider defaults fill what is missing."""
        meta = dict(meta or {})
        provider = meta.get("provider", "imap")
        base = dict(PROVIDER_SERVERS.get(provider, {}))
        # One "security" for both servers is accepted (older rows, the demo); per-server keys win.
        if "security" in meta:
            base["imap_security"] = base["smtp_security"] = meta["security"]
        known = {f for f in cls.__dataclass_fields__ if f not in ("address", "extra")}
        for key in known:
            if key in meta:
                base[key] = meta[key]
        base.setdefault("auth", "oauth" if provider in ("google", "microsoft") else "password")
        for key, port_key in (("imap_security", "imap_port"), ("smtp_security", "smtp_port")):
            if key not in base and port_key in base:
                base[key] = default_security(int(base[port_key]), key[:4])
        missing = [k for k in ("imap_host", "imap_port", "smtp_host", "smtp_port") if k not in base]
        if missing:
            raise SettingsError(f"inbox {address}: missing {', '.join(missing)}")
        return cls(address=address, **base)

    def to_meta(self) -> dict[str, Any]:
        """What goes into SocialAccount.meta (no secrets here by construction)."""
        data = asdict(self)
        data.pop("address")
        extra = data.pop("extra") or {}
        data = {k: v for k, v in data.items() if v is not None}
        if not data["sandbox"]:
            data.pop("sandbox")
        return {**extra, **data}

    def validate(self, *, allow_insecure: bool = False) -> None:
        """Raise SettingsError for a setting that cannot work or would send a password in clear text."""
        if "@" not in self.address:
            raise SettingsError(f"{self.address!r} is not an email address")
        if self.provider not in PROVIDERS:
            raise SettingsError(f"provider must be one of {', '.join(PROVIDERS)}")
        if self.auth not in ("password", "oauth"):
            raise SettingsError("auth must be password or oauth")
        for proto in ("imap", "smtp"):
            host = getattr(self, f"{proto}_host")
            port = getattr(self, f"{proto}_port")
            security = getattr(self, f"{proto}_security")
            if not host:
                raise SettingsError(f"{proto.upper()} host is required")
            if not 0 < port < 65536:
                raise SettingsError(f"{proto.upper()} port {port} is out of range")
            if security not in SECURITY:
                raise SettingsError(f"{proto.upper()} security must be one of {', '.join(SECURITY)}")
            # A password (or bearer token) sent without TLS can be read by anyone on the path.
            if security == "none" and not (allow_insecure or is_loopback(host)):
                raise SettingsError(
                    f"{proto.upper()} without TLS is only allowed to this machine ({host} is not loopback)"
                )
        if self.backfill_days < 0 or self.backfill_days > 3650:
            raise SettingsError("backfill window must be between 0 and 3650 days")

    @property
    def should_append_sent(self) -> bool:
        return self.append_sent if self.append_sent is not None else self.provider == "imap"

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2] or "localhost"
