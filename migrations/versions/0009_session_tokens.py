"""session tokens: every session and remember-me cookie carries the user's current token (issue 16 item 4)

Each existing user gets a random token, so everyone can sign in as before; cookies issued before this migration
(which held only the user id) stop loading, once: people sign in again.

Revision ID: session_tokens_1
Revises: sms_whatsapp_1
Create Date: 2026-12-08 01:30:00

"""

import secrets

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "session_tokens_1"
down_revision = "sms_whatsapp_1"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_token", sa.String(length=64), nullable=True))
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("session_token", sa.String))
    conn = op.get_bind()
    for (user_id,) in conn.execute(sa.select(users.c.id)).all():
        conn.execute(users.update().where(users.c.id == user_id).values(session_token=secrets.token_urlsafe(32)))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("session_token", existing_type=sa.String(length=64), nullable=False)


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("session_token")
