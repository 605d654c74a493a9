"""canned replies: replies a team keeps ready, per organization and per location (issue 21)

Revision ID: canned_replies_1
Revises: clean_names_1
Create Date: 2026-12-08 02:10:00

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'canned_replies_1'
down_revision = 'clean_names_1'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'canned_replies',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('location_id', sa.Uuid(), nullable=True),
        sa.Column('title', sa.String(length=80), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['organization_id'], ['organizations.id'],
            name=op.f('fk_canned_replies_organization_id_organizations'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['location_id'], ['locations.id'], name=op.f('fk_canned_replies_location_id_locations'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_canned_replies')),
    )
    op.create_index('ix_canned_replies_org_location', 'canned_replies', ['organization_id', 'location_id'])


def downgrade():
    op.drop_index('ix_canned_replies_org_location', table_name='canned_replies')
    op.drop_table('canned_replies')
