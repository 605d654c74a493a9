"""Connecting an IMAP/SMTP inbox: "Test connection" says exactly what failed; the connect-email command."""

from __future__ import annotations

from sqlalchemy import select

from chatpad.channels.email.connection import test_connection as check_connection
from chatpad.channels.email.settings import MailSettings
from chatpad.models import SocialAccount


def _settings(dovecot, smtp_server, address, **kw) -> MailSettings:
    base = dict(
        address=address,
        imap_host=dovecot.host,
        imap_port=dovecot.imap_port,
        imap_security="starttls",
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security="starttls",
    )
    base.update(kw)
    return MailSettings(**base)


def test_good_settings_pass_every_step(db, dovecot, smtp_server, mail_app):
    """Working settings: IMAP signs in and opens the folder, SMTP signs in."""
    address, password = dovecot.add_user()
    report = check_connection(_settings(dovecot, smtp_server, address), password)
    assert report.ok and report.failure is None and report.folder_count == 0
    assert "Connection OK" in report.summary


def test_dns_failure_is_reported_as_dns(db, dovecot, smtp_server, mail_app):
    """A host name that does not exist: "DNS failed", naming the host."""
    address, password = dovecot.add_user()
    report = check_connection(_settings(dovecot, smtp_server, address, imap_host="imap.no-such-host.invalid"), password)
    assert report.failure.step == "dns"
    assert report.summary.startswith("DNS failed: IMAP server imap.no-such-host.invalid could not be found")


def test_tls_on_a_plain_port_is_reported_as_tls(db, dovecot, smtp_server, mail_app):
    """Implicit TLS against a STARTTLS port: a TLS failure with a hint about the port's security."""
    address, password = dovecot.add_user()
    report = check_connection(_settings(dovecot, smtp_server, address, imap_security="ssl"), password)
    assert report.failure.step == "tls" and "check that the port's security is right" in report.summary


def test_untrusted_certificate_is_reported_as_tls(db, dovecot, smtp_server, mail_app):
    """A certificate nobody vouches for: a TLS failure saying the certificate is not trusted."""
    address, password = dovecot.add_user()
    mail_app.config["MAIL_TLS_CA_FILE"] = None
    report = check_connection(_settings(dovecot, smtp_server, address, imap_port=dovecot.imaps_port,
                                        imap_security="ssl"), password)  # fmt: skip
    assert report.failure.step == "tls" and "TLS certificate is not trusted" in report.summary


def test_wrong_password_is_reported_as_authentication(db, dovecot, smtp_server, mail_app):
    """A wrong app password: authentication failed, in our words (never the server's: issue 16 item 5)."""
    address, _ = dovecot.add_user()
    report = check_connection(_settings(dovecot, smtp_server, address), "wrong-password")
    assert report.failure.step == "auth"
    assert report.summary == (
        f"Authentication failed: IMAP sign-in as {address} was refused: check the user name and password "
        "(an app password where the provider requires one)"
    )


def test_missing_folder_is_reported_as_folder(db, dovecot, smtp_server, mail_app):
    """A folder to sync that the mailbox does not have: a folder failure naming it."""
    address, password = dovecot.add_user()
    report = check_connection(_settings(dovecot, smtp_server, address, folder="Support"), password)
    assert report.failure.step == "folder" and "'Support'" in report.summary


def test_smtp_failure_is_reported_after_imap_succeeds(db, dovecot, smtp_server, mail_app):
    """IMAP fine but nothing listening for SMTP: the report says SMTP's connection failed."""
    address, password = dovecot.add_user()
    report = check_connection(_settings(dovecot, smtp_server, address, smtp_port=1), password)
    assert [s.ok for s in report.steps] == [True, False]
    assert report.failure.server == "SMTP" and report.failure.step == "connect"


def test_plain_text_to_a_remote_server_is_refused(db, mail_app):
    """Settings that would send a password unencrypted over the internet are refused before connecting."""
    settings = MailSettings(address="a@example.com", imap_host="imap.example.com", imap_port=143,
                            imap_security="none", smtp_host="smtp.example.com", smtp_port=587)  # fmt: skip
    report = check_connection(settings, "secret")
    assert report.failure.step == "settings" and "only allowed to this machine" in report.summary


def _cli(app, *args, password):
    runner = app.test_cli_runner()
    return runner.invoke(args=["chatpad", "connect-email", *args], env={"CHATPAD_MAIL_PASSWORD": password})


def test_connect_email_command_connects_a_checked_inbox(db, make, dovecot, smtp_server, mail_app):
    """`flask chatpad connect-email` checks both servers, then connects the inbox to the agent and location."""
    biz = make.business()
    address, password = dovecot.add_user()
    result = _cli(
        mail_app, "--agent", biz.agent.name, "--location", biz.location.name, "--address", address,
        "--imap-host", dovecot.host, "--imap-port", str(dovecot.imaps_port), "--smtp-host", smtp_server.host,
        "--smtp-port", str(smtp_server.port), "--security", "ssl", "--smtp-security", "starttls", "--username", address,
        "--backfill-days", "3", password=password,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "[ok  ] IMAP" in result.output and "[ok  ] SMTP" in result.output and f"Connected {address}" in result.output
    account = db.session.scalar(select(SocialAccount).where(SocialAccount.account_id == address))
    assert account.location_id == biz.location.id and account.access_token == password
    assert account.meta["imap_security"] == "ssl" and account.meta["backfill_days"] == 3
    assert password not in str(account.meta)


def test_connect_email_command_says_what_failed_and_changes_nothing(db, make, dovecot, smtp_server, mail_app):
    """A failing check exits non-zero with the failing step, and no inbox is created."""
    biz = make.business()
    address, _ = dovecot.add_user()
    result = _cli(
        mail_app, "--agent", biz.agent.name, "--address", address, "--imap-host", dovecot.host,
        "--imap-port", str(dovecot.imap_port), "--security", "starttls", "--smtp-host", smtp_server.host,
        "--smtp-port", str(smtp_server.port), password="wrong",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "Authentication failed: IMAP sign-in" in result.output
    assert db.session.scalar(select(SocialAccount).where(SocialAccount.account_id == address)) is None


def test_connect_email_command_knows_general_and_rejects_unknown_locations(db, make, dovecot, smtp_server, mail_app):
    """--location General connects without a location; an unknown location lists the agent's locations."""
    biz = make.business()
    address, password = dovecot.add_user()
    common = ["--agent", biz.agent.name, "--address", address, "--imap-host", dovecot.host,
              "--imap-port", str(dovecot.imap_port), "--security", "starttls", "--smtp-host", smtp_server.host,
              "--smtp-port", str(smtp_server.port)]  # fmt: skip
    bad = _cli(mail_app, *common, "--location", "Atlantis", password=password)
    assert bad.exit_code == 1 and biz.location.name in bad.output
    good = _cli(mail_app, *common, "--location", "General", password=password)
    assert good.exit_code == 0, good.output
    account = db.session.scalar(select(SocialAccount).where(SocialAccount.account_id == address))
    assert account.location_id is None
