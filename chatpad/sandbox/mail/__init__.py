"""The sandbox mail server: an IMAP server and an SMTP server in pure Python, holding the demo's inboxes."""
