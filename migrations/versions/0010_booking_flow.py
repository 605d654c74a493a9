"""booking flow: the conversation's booking state (slots offered, the one picked, details given), kept in the
database so every worker reads the same step of the flow (docs/booking.md)

Revision ID: booking_flow_1
Revises: session_tokens_1
Create Date: 2026-12-08 01:15:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = 'booking_flow_1'
down_revision = 'session_tokens_1'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'booking_state',
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
                nullable=True,
            )
        )


def downgrade():
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_column('booking_state')
