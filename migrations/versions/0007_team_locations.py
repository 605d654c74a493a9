"""team: people limited to locations (location_members, users.limited_to_locations), and when each was last seen

An on-site manager is a user with limited_to_locations set and one location_members row per community: they see only
those communities' conversations, contacts, notifications and analytics (chatpad.models.scope). last_assigned_at is
the round robin of automatic assignment (chatpad.team); users.last_seen_at says who is online.

Revision ID: team_locations_1
Revises: trust_screens_1
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'team_locations_1'
down_revision = 'trust_screens_1'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'location_members',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('location_id', sa.Uuid(), nullable=False),
        sa.Column('last_assigned_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['location_id'], ['locations.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', 'location_id'),
    )
    op.create_index('ix_location_members_location_id', 'location_members', ['location_id'], unique=False)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('limited_to_locations', sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('last_seen_at')
        batch_op.drop_column('limited_to_locations')
    op.drop_index('ix_location_members_location_id', table_name='location_members')
    op.drop_table('location_members')
