"""inbox: internal notes, manual contact merges, keyset indexes for the inbox's filters, search indexes

Revision ID: inbox_1
Revises: 0001
Create Date: 2026-11-26 08:29:00.943534

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'inbox_1'
down_revision = '0001'
branch_labels = None
depends_on = None

FILTER_INDEXES = {
    'ix_conversations_inbox_account': 'social_account_id',
    'ix_conversations_inbox_assigned': 'assigned_user_id',
    'ix_conversations_inbox_channel': 'channel',
    'ix_conversations_inbox_location': 'location_id',
    'ix_conversations_inbox_status': 'status',
}


def upgrade():
    op.create_table('conversation_notes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_conversation_notes_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_conversation_notes_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_conversation_notes_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversation_notes'))
    )
    op.create_index('ix_conversation_notes_conversation_created', 'conversation_notes', ['conversation_id', 'created_at'], unique=False)

    # No foreign key on merged_into_id (like contact_identities.original_contact_id): adding one on SQLite needs a
    # table rebuild, and with foreign keys on that rebuild's implicit DELETE would cascade to every conversation.
    op.add_column('contacts', sa.Column('merged_into_id', sa.Uuid(), nullable=True))
    op.add_column('contacts', sa.Column('merged_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f('ix_contacts_merged_into_id'), 'contacts', ['merged_into_id'], unique=False)

    op.add_column('conversations', sa.Column('original_contact_id', sa.Uuid(), nullable=True))
    for name, column in FILTER_INDEXES.items():
        op.create_index(name, 'conversations', ['organization_id', column, 'last_message_at', 'id'], unique=False)

    if op.get_bind().dialect.name == 'postgresql':
        # Search: full text over message bodies ('simple': no stemming, any language), trigrams for names and
        # addresses typed in part. pg_trgm is a trusted extension: a database owner may create it.
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        op.execute("CREATE INDEX ix_messages_content_fts ON messages USING gin (to_tsvector('simple'::regconfig, content))")
        op.execute('CREATE INDEX ix_contacts_name_trgm ON contacts USING gin (name gin_trgm_ops)')
        op.execute('CREATE INDEX ix_contacts_email_trgm ON contacts USING gin (email gin_trgm_ops)')
        op.execute('CREATE INDEX ix_contacts_phone_trgm ON contacts USING gin (phone gin_trgm_ops)')


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        for name in ('ix_contacts_phone_trgm', 'ix_contacts_email_trgm', 'ix_contacts_name_trgm', 'ix_messages_content_fts'):
            op.execute(f'DROP INDEX IF EXISTS {name}')
    for name in FILTER_INDEXES:
        op.drop_index(name, table_name='conversations')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_column('original_contact_id')
    op.drop_index(op.f('ix_contacts_merged_into_id'), table_name='contacts')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_column('merged_at')
        batch_op.drop_column('merged_into_id')
    op.drop_index('ix_conversation_notes_conversation_created', table_name='conversation_notes')
    op.drop_table('conversation_notes')
