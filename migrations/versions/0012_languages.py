"""languages and handoff topics: the language of a message, the languages a location answers in, the business's
language, handoff topics per agent and location

Revision ID: languages_1
Revises: invitations_1
Create Date: 2026-12-08 01:20:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = 'languages_1'
down_revision = 'invitations_1'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=8), nullable=True))
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=8), server_default='en', nullable=False))
        batch_op.add_column(sa.Column('handoff_topics', JSON, server_default='[]', nullable=False))
    with op.batch_alter_table('locations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('languages', JSON, server_default='[]', nullable=False))
        batch_op.add_column(sa.Column('handoff_topics', JSON, server_default='[]', nullable=False))


def downgrade():
    with op.batch_alter_table('locations', schema=None) as batch_op:
        batch_op.drop_column('handoff_topics')
        batch_op.drop_column('languages')
    with op.batch_alter_table('agents', schema=None) as batch_op:
        batch_op.drop_column('handoff_topics')
        batch_op.drop_column('language')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('language')
