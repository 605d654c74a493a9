"""inbox: internal notes, manual contact merges, keyset indexes for the inbox's filters, search indexes

Revision ID: inbox_1
Revises: email_1
Create Date: 2026-11-26 08:29:00.943534

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'inbox_1'
down_revision = 'email_1'
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

    op.create_index('ix_messages_failed_created', 'messages', ['created_at'], unique=False,
                    postgresql_where=sa.text("status = 'failed'"), sqlite_where=sa.text("status = 'failed'"))

    if op.get_bind().dialect.name == 'postgresql':
        _postgresql_search()


# Search on PostgreSQL (chatpad/inbox/queries.py). Each conversation keeps one tsvector of its messages' words
# (stripped: no positions; 'simple': no stemming, any language), maintained by triggers on messages, so the inbox
# searches 100k conversations instead of 1M messages and a common word is found by walking the inbox index newest
# first. Names, addresses, phone numbers and subjects are matched in part with trigrams (pg_trgm is a trusted
# extension: a database owner may create it).
SEARCH_FUNCTIONS = """
CREATE FUNCTION chatpad_rebuild_conversation_search(conversation uuid) RETURNS void LANGUAGE sql AS $$
    UPDATE conversations SET search_vector = (
        SELECT strip(to_tsvector('simple'::regconfig, coalesce(string_agg(content, ' '), '')))
        FROM messages
        WHERE conversation_id = conversation AND deleted_at IS NULL AND sender_type <> 'system'
    ) WHERE id = conversation;
$$;

CREATE FUNCTION chatpad_message_search_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.deleted_at IS NULL AND NEW.sender_type <> 'system' AND NEW.content <> '' THEN
        UPDATE conversations
        SET search_vector = strip(coalesce(search_vector, ''::tsvector) || to_tsvector('simple'::regconfig, NEW.content))
        WHERE id = NEW.conversation_id;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION chatpad_message_search_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM chatpad_rebuild_conversation_search(NEW.conversation_id);
    RETURN NULL;
END $$;

CREATE TRIGGER messages_search_insert AFTER INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION chatpad_message_search_insert();
-- An edited or unsent message: rebuild that conversation's words (so removed text is no longer found).
CREATE TRIGGER messages_search_update AFTER UPDATE OF content, deleted_at ON messages
    FOR EACH ROW WHEN (OLD.content IS DISTINCT FROM NEW.content OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at)
    EXECUTE FUNCTION chatpad_message_search_update();
"""

# Fills search_vector for conversations that have none (existing data; bench/inbox.py after a bulk load).
SEARCH_BACKFILL = """
UPDATE conversations c SET search_vector = s.words
FROM (
    SELECT conversation_id, strip(to_tsvector('simple'::regconfig, string_agg(content, ' '))) AS words
    FROM messages WHERE deleted_at IS NULL AND sender_type <> 'system'
    GROUP BY conversation_id
) s
WHERE c.id = s.conversation_id AND c.search_vector IS NULL
"""


def _postgresql_search():
    op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
    op.execute('ALTER TABLE conversations ADD COLUMN search_vector tsvector')
    op.execute(SEARCH_FUNCTIONS)
    op.execute(SEARCH_BACKFILL)
    op.execute('CREATE INDEX ix_conversations_search ON conversations USING gin (search_vector)')
    op.execute('CREATE INDEX ix_conversations_subject_trgm ON conversations USING gin (subject gin_trgm_ops)')
    for column in ('name', 'email', 'phone'):
        op.execute(f'CREATE INDEX ix_contacts_{column}_trgm ON contacts USING gin ({column} gin_trgm_ops)')


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP TRIGGER IF EXISTS messages_search_update ON messages')
        op.execute('DROP TRIGGER IF EXISTS messages_search_insert ON messages')
        op.execute('DROP FUNCTION IF EXISTS chatpad_message_search_update()')
        op.execute('DROP FUNCTION IF EXISTS chatpad_message_search_insert()')
        op.execute('DROP FUNCTION IF EXISTS chatpad_rebuild_conversation_search(uuid)')
        for name in ('ix_contacts_phone_trgm', 'ix_contacts_email_trgm', 'ix_contacts_name_trgm',
                     'ix_conversations_subject_trgm', 'ix_conversations_search'):
            op.execute(f'DROP INDEX IF EXISTS {name}')
        op.execute('ALTER TABLE conversations DROP COLUMN search_vector')
    op.drop_index('ix_messages_failed_created', table_name='messages')
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
