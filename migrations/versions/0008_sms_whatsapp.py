"""sms and whatsapp: opt-outs on contact identities, message templates

Revision ID: sms_whatsapp_1
Revises: team_locations_1
Create Date: 2026-12-01 09:00:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = 'sms_whatsapp_1'
down_revision = 'team_locations_1'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('contact_identities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('opted_out_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('opt_out_reason', sa.String(length=400), nullable=True))

    op.create_table('message_templates',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('platform_account_id', sa.String(length=64), nullable=False),
    sa.Column('external_id', sa.String(length=64), nullable=True),
    sa.Column('name', sa.String(length=512), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('components', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('synced_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_message_templates_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_templates')),
    sa.UniqueConstraint('channel', 'platform_account_id', 'name', 'language', name='uq_message_templates_name')
    )
    op.create_index('ix_message_templates_org', 'message_templates', ['organization_id', 'channel'], unique=False)


def downgrade():
    op.drop_index('ix_message_templates_org', table_name='message_templates')
    op.drop_table('message_templates')
    with op.batch_alter_table('contact_identities', schema=None) as batch_op:
        batch_op.drop_column('opt_out_reason')
        batch_op.drop_column('opted_out_at')
