"""conversation labels: the team labels conversations and filters the inbox by label (issue 21)

Revision ID: conversation_labels_1
Revises: canned_replies_1
Create Date: 2026-12-08 02:20:00

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'conversation_labels_1'
down_revision = 'canned_replies_1'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'conversation_labels',
        sa.Column('conversation_id', sa.Uuid(), nullable=False),
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['conversation_id'], ['conversations.id'],
            name=op.f('fk_conversation_labels_conversation_id_conversations'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['organization_id'], ['organizations.id'],
            name=op.f('fk_conversation_labels_organization_id_organizations'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('conversation_id', 'name', name=op.f('pk_conversation_labels')),
    )
    op.create_index(
        'ix_conversation_labels_org_name', 'conversation_labels', ['organization_id', 'name', 'conversation_id']
    )


def downgrade():
    op.drop_index('ix_conversation_labels_org_name', table_name='conversation_labels')
    op.drop_table('conversation_labels')
