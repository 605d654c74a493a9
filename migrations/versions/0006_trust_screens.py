"""trust screens: notifications per person; anonymous counts per erased conversation and day

Notifications: each person has their own (and so their own read state). The organization-wide rows (user_id NULL)
become one copy per active user of their organization, read or unread as they were (everyone saw the one state),
and user_id becomes required.

Anonymous activity: what analytics needs to count an erased conversation as it did before (docs/privacy.md):
a random key tying one conversation's days together, automatic replies, the day it was taken over, and each day's
first response. Rows already there stay per-day totals (conversation_key NULL).

Revision ID: trust_screens_1
Revises: booking_1
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'trust_screens_1'
down_revision = 'booking_1'
branch_labels = None
depends_on = None


def upgrade():
    op.execute(
        """
        INSERT INTO notifications
            (organization_id, user_id, kind, title, body, conversation_id, social_account_id, created_at, read_at)
        SELECT n.organization_id, u.id, n.kind, n.title, n.body, n.conversation_id, n.social_account_id,
               n.created_at, n.read_at
        FROM notifications n JOIN users u ON u.organization_id = n.organization_id AND u.active
        WHERE n.user_id IS NULL
        """
    )
    op.execute("DELETE FROM notifications WHERE user_id IS NULL")
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.alter_column('user_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_index('ix_notifications_user_created', ['user_id', 'created_at'], unique=False)

    with op.batch_alter_table('anonymous_activity', schema=None) as batch_op:
        batch_op.add_column(sa.Column('automatic_replies', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('taken_over', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('conversation_key', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('first_response_seconds', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('first_response_day', sa.Date(), nullable=True))
    # The old rows' AI replies were their automatic ones (system replies were not counted apart).
    op.execute("UPDATE anonymous_activity SET automatic_replies = ai_replies")


def downgrade():
    with op.batch_alter_table('anonymous_activity', schema=None) as batch_op:
        batch_op.drop_column('first_response_day')
        batch_op.drop_column('first_response_seconds')
        batch_op.drop_column('conversation_key')
        batch_op.drop_column('taken_over')
        batch_op.drop_column('automatic_replies')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_user_created')
        batch_op.alter_column('user_id', existing_type=sa.Integer(), nullable=True)
