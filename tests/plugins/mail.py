"""Real mail servers for the email tests: Dovecot (Debian's dovecot-imapd) for IMAP, aiosmtpd for SMTP, and the
sandbox's Google/Microsoft OAuth endpoints, each started privately on free loopback ports.

Dovecot runs as a foreground child with its own config in a temp dir: a passwd-file passdb for password users, an
oauth2 passdb that checks XOAUTH2 bearer tokens against the sandbox's RFC 7662 introspection endpoint, maildirs in
the temp dir, plain IMAP with STARTTLS on one port and implicit TLS on another (a self-signed certificate the tests
trust through MAIL_TLS_CA_FILE). The SMTP server records what it accepts and can be told to answer 4xx/5xx.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
DOVEADM = shutil.which("doveadm") or "/usr/bin/doveadm"
_seq = itertools.count(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


# --- TLS ----------------------------------------------------------------------------------------------------------


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost in directory: (cert path, key path)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chatpad test mail")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    os.chmod(key_path, 0o644)  # Dovecot's config process reads it after dropping privileges
    return cert_path, key_path


@pytest.fixture(scope="session")
def mail_tls(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1/localhost: (cert path, key path)."""
    return self_signed_certificate(tmp_path_factory.mktemp("mail-tls"))


# --- the sandbox (Google, Microsoft, introspection) ---------------------------------------------------------------


@pytest.fixture(scope="session")
def mail_sandbox(sandbox_server):
    """The session's sandbox (tests/plugins/sandbox.py): Google and Microsoft OAuth, token introspection."""
    return sandbox_server


# --- Dovecot -------------------------------------------------------------------------------------------------------

DOVECOT_CONF = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2 oauthbearer
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = 1
mail_location = maildir:{root}/mail/%u
mail_fsync = never
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%Lu {root}/users/%Lu
}}
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {root}/oauth2.conf.ext
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%Lu
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
}}
"""

OAUTH2_CONF = """\
introspection_url = {introspect}
introspection_mode = post
force_introspection = yes
username_attribute = email
active_attribute = active
active_value = true
"""


class Dovecot:
    """A private Dovecot. add_user() makes a mailbox; deliver() puts mail in it over IMAP, as an MTA would."""

    def __init__(self, root: Path, cert: Path, key: Path, introspect: str):
        self.root, self.host = root, "127.0.0.1"
        self.imap_port, self.imaps_port = free_port(), free_port()
        self.passwords: dict[str, str] = {}
        self.conf = root / "dovecot.conf"
        if os.geteuid() == 0:
            # As root, Dovecot drops to its own system users; mail is owned by the dovecot user.
            mail_user = pwd.getpwnam("dovecot")
            uid, gid = mail_user.pw_uid, mail_user.pw_gid
            internal, group, login = "dovecot", "dovecot", "dovenull"
        else:
            me = pwd.getpwuid(os.getuid())
            uid, gid = me.pw_uid, me.pw_gid
            internal = login = me.pw_name
            group = _group_name(gid)
        for sub in ("run", "state", "mail", "users"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        os.chown(root / "mail", uid, gid)
        (root / "oauth2.conf.ext").write_text(OAUTH2_CONF.format(introspect=introspect))
        self.conf.write_text(
            DOVECOT_CONF.format(
                root=root,
                cert=cert,
                key=key,
                internal_user=internal,
                internal_group=group,
                login_user=login,
                uid=uid,
                gid=gid,
                imap_port=self.imap_port,
                imaps_port=self.imaps_port,
            )  # fmt: skip
        )
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        try:
            wait_port(self.imap_port)
            wait_port(self.imaps_port)
        except RuntimeError:
            self.stop()
            raise RuntimeError("Dovecot did not start:\n" + self.log())

    def log(self) -> str:
        path = self.root / "dovecot.log"
        out = path.read_text() if path.exists() else ""
        if self.process.poll() is not None and self.process.stdout:
            out += self.process.stdout.read().decode(errors="replace")
        return out

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def add_user(self, address: str | None = None, password: str | None = None) -> tuple[str, str]:
        address = (address or f"inbox{next(_seq)}-{uuid.uuid4().hex[:6]}@example.com").lower()
        password = password or uuid.uuid4().hex
        self.passwords[address] = password
        # One passwd-file per user (the path has %Lu): a new user is a new file, seen at once. One shared file
        # would be re-read at most once a second, and a user added within that second could not sign in.
        (self.root / "users" / address).write_text(f"{address}:{{PLAIN}}{password}::::::\n")
        return address, password

    def check_password(self, address: str, password: str) -> bool:
        return self.passwords.get(address.lower()) == password

    def client(self, address: str):
        from imapclient import IMAPClient

        client = IMAPClient(self.host, port=self.imap_port, ssl=False, timeout=10)
        client.login(address, self.passwords[address.lower()])
        return client

    def deliver(self, address: str, raw: bytes, folder: str = "INBOX", when: dt.datetime | None = None) -> int:
        client = self.client(address)
        try:
            response = client.append(folder, raw, msg_time=when or dt.datetime.now(dt.UTC))
        finally:
            client.logout()
        return int(response.split(b"]")[0].split()[-1])  # [APPENDUID validity uid]

    def messages(self, address: str, folder: str = "INBOX") -> list[bytes]:
        client = self.client(address)
        try:
            client.select_folder(folder, readonly=True)
            uids = client.search(["ALL"])
            data = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
            return [data[uid][b"BODY[]"] for uid in sorted(data)]
        finally:
            client.logout()

    def set_uidvalidity(self, address: str, value: int, folder: str = "INBOX") -> None:
        """What a server rebuild does: the folder's UIDVALIDITY changes, so old UIDs mean nothing."""
        subprocess.run(
            [DOVEADM, "-c", str(self.conf), "mailbox", "update", "-u", address, "--uid-validity", str(value), folder],
            check=True,
            capture_output=True,
        )


def _group_name(gid: int) -> str:
    import grp

    return grp.getgrgid(gid).gr_name


def start_dovecot(cert: Path, key: Path, introspect: str) -> Dovecot:
    """A private Dovecot in a fresh temp dir (stop() it, then remove .root)."""
    # Not under pytest's tmp dir: that is private to this user, and Dovecot's workers run as its own users.
    root = Path(tempfile.mkdtemp(prefix="chatpad-dovecot-"))
    os.chmod(root, 0o755)  # noqa: S103 (Dovecot's own users must reach their maildirs inside)
    return Dovecot(root, cert, key, introspect)


@pytest.fixture(scope="session")
def dovecot(mail_tls, mail_sandbox):
    """A running Dovecot (see module doc). Needs Debian's dovecot-imapd (.ci/run installs it)."""
    if not Path(DOVECOT).exists():
        pytest.fail("Dovecot not found: install Debian's dovecot-imapd (apt-get install dovecot-imapd; .ci/run does)")
    server = start_dovecot(*mail_tls, f"{mail_sandbox.url}/oauth/introspect")
    yield server
    server.stop()
    shutil.rmtree(server.root, ignore_errors=True)


# --- SMTP ----------------------------------------------------------------------------------------------------------


class SmtpServer:
    """aiosmtpd on two ports: plain with STARTTLS, and implicit TLS."""

    def __init__(self, dovecot: Dovecot, introspect: str, cert: Path, key: Path):
        import ssl

        from chatpad.sandbox.mail.server import introspection_verifier
        from chatpad.sandbox.mail.smtpd import SmtpState, SubmissionHandler, start_smtp

        self.host = "127.0.0.1"
        self.state = SmtpState()
        handler = SubmissionHandler(self.state, dovecot.check_password, introspection_verifier(introspect))
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_tls.load_cert_chain(cert, key)
        self.port, self.ssl_port = free_port(), free_port()
        self.controllers = [
            start_smtp(handler, self.host, self.port, tls_context=server_tls),
            start_smtp(handler, self.host, self.ssl_port, ssl_context=server_tls),
        ]

    @property
    def received(self):
        return self.state.received

    def fail_next(self, reply: str, *, times: int | None = 1, on: str = "data") -> None:
        self.state.fail_next(reply, times=times, on=on)

    def stop(self) -> None:
        for controller in self.controllers:
            controller.stop()


@pytest.fixture(scope="session")
def _smtp_server(dovecot, mail_sandbox, mail_tls):
    server = SmtpServer(dovecot, f"{mail_sandbox.url}/oauth/introspect", *mail_tls)
    yield server
    server.stop()


@pytest.fixture
def smtp_server(_smtp_server):
    """The SMTP server with nothing received and normal behaviour."""
    _smtp_server.state.reset()
    yield _smtp_server
    _smtp_server.state.reset()


# --- the sandbox's own mail server (Google and Microsoft mailboxes, as make run serves them) -----------------------


@pytest.fixture(scope="session")
def oauth_mail_server(mail_sandbox):
    """The sandbox's pure-Python IMAP/SMTP server (chatpad/sandbox/mail) on free ports, checking XOAUTH2 tokens with
    the session's sandbox: where Google and Microsoft inboxes live in development. .store holds the mailboxes."""
    from chatpad.sandbox.mail.server import MailServers
    from chatpad.sandbox.mail.store import MailStore

    servers = MailServers(
        MailStore(), host="127.0.0.1", imap_port=free_port(), smtp_port=free_port(),
        introspect_url=f"{mail_sandbox.url}/oauth/introspect",
    ).start()  # fmt: skip
    yield servers
    servers.stop()


def oauth_server_config(imap: tuple[str, int], smtp: tuple[str, int]) -> dict[str, str]:
    """The four *_IMAP_SERVER/*_SMTP_SERVER settings pointing both providers at these plain-text loopback servers."""
    return {
        f"{provider}_{proto}_SERVER": f"{host}:{port}:none"
        for provider in ("GOOGLE", "MICROSOFT")
        for proto, (host, port) in (("IMAP", imap), ("SMTP", smtp))
    }


# --- the app wired to them -----------------------------------------------------------------------------------------


@pytest.fixture
def mail_app(app, mail_sandbox, mail_tls, oauth_mail_server):
    """The test app with its OAuth URLs on the sandbox, Google's and Microsoft's mailboxes on the sandbox mail server
    and the test certificate trusted; jobs run in it."""
    import jobs

    url = mail_sandbox.url
    servers = oauth_mail_server
    overrides = {
        **oauth_server_config((servers.host, servers.imap_port), (servers.host, servers.smtp_port)),
        "GOOGLE_AUTHORIZE_URL": f"{url}/google/o/oauth2/v2/auth",
        "GOOGLE_TOKEN_URL": f"{url}/google/token",
        "GOOGLE_REVOKE_URL": f"{url}/google/revoke",
        "MICROSOFT_LOGIN_URL": f"{url}/microsoft",
        "MAIL_TLS_CA_FILE": str(mail_tls[0]),
        "MAIL_TIMEOUT": 10.0,
        "SANDBOX_URL": url,
    }
    saved = {key: app.config.get(key) for key in overrides}
    app.config.update(overrides)
    jobs.set_app(app)
    yield app
    app.config.update(saved)


@pytest.fixture
def make_inbox(db, make, dovecot, smtp_server, mail_app):
    """make_inbox(agent, location=None, **settings) -> (SocialAccount, address): a Dovecot mailbox connected by
    password, replies going through the test SMTP server."""
    from chatpad.channels.email.settings import MailSettings

    def factory(agent, location=None, *, security: str = "starttls", **overrides):
        address, password = dovecot.add_user()
        settings = MailSettings(
            address=address,
            imap_host=dovecot.host,
            imap_port=dovecot.imaps_port if security == "ssl" else dovecot.imap_port,
            imap_security=security,
            smtp_host=smtp_server.host,
            smtp_port=smtp_server.ssl_port if security == "ssl" else smtp_server.port,
            smtp_security=security,
            username=address,
            **overrides,
        )
        account = make.account(
            agent,
            "email",
            location,
            account_id=address,
            account_name=address,
            access_token=password,
            meta=settings.to_meta(),
        )
        return account, address

    return factory
