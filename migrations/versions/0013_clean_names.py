"""clean stored names: contact names with CR/LF or other control characters made one plain line (issue 16 item 7)

Mail parsed before names were cleaned where mail is parsed stored From names that decoded (RFC 2047) to CR/LF, and a
reply built from such a name had a header no mail library accepts. Replies now clean names when they write headers;
this repairs the stored names too, so the inbox and the AI see the one-line name.

Revision ID: clean_names_1
Revises: languages_1
Create Date: 2026-12-08 02:00:00

"""
import re

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'clean_names_1'
down_revision = 'languages_1'
branch_labels = None
depends_on = None

CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def one_line(name: str) -> str:
    """What chatpad.channels.email.parsing.clean_name does to a decoded name (kept here: a migration must not change
    when the app's code does)."""
    return re.sub(r"\s+", " ", CONTROL.sub(" ", name)).strip()[:200]


def clean_stored_names(connection) -> int:
    """Rewrite every contact name holding a control character; the number of names changed."""
    rows = connection.execute(
        sa.text("SELECT id, name FROM contacts WHERE name LIKE :cr OR name LIKE :lf OR name LIKE :tab"),
        {"cr": "%\r%", "lf": "%\n%", "tab": "%\t%"},
    ).all()
    changed = 0
    for ident, name in rows:
        cleaned = one_line(name or "")
        if cleaned != name:
            connection.execute(
                sa.text("UPDATE contacts SET name = :name WHERE id = :id"), {"name": cleaned or None, "id": ident}
            )
            changed += 1
    return changed


def upgrade():
    clean_stored_names(op.get_bind())


def downgrade():
    pass  # the broken names are not worth restoring
