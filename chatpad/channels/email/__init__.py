"""The email channel: Google Workspace, Microsoft 365 and any IMAP/SMTP inbox (docs/channels/email.md).

adapter.py (EmailChannel) parses, formats, sends and threads; parsing/quotes/loops turn raw mail into what the inbox
shows and the AI reads; threads.py holds the threading rules; compose.py writes replies; imap.py, smtp.py and
oauth.py are the clients; sync.py is the IMAP sync; connection.py the "Test connection" report.
"""
