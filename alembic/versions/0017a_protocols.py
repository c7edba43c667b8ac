"""verified bots, bot keys, license tokens, api key kind

Revision ID: 0017a_protocols
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import licensing_api.db


revision: str = '0017a_protocols'
down_revision: str | None = '0016a_provisioning_attempts'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('bots',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('api_key_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('directory_url', sa.String(length=500), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('directory_fetched_at', licensing_api.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('directory_fresh_until', licensing_api.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('directory_etag', sa.String(length=200), nullable=True),
    sa.Column('directory_error', sa.Text(), nullable=True),
    sa.Column('created_at', licensing_api.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', licensing_api.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id'], name=op.f('fk_bots_api_key_id_api_keys'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_bots_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bots')),
    sa.UniqueConstraint('api_key_id', name=op.f('uq_bots_api_key_id'))
    )
    with op.batch_alter_table('bots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bots_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_bots_directory_url'), ['directory_url'], unique=False)

    op.create_table('license_tokens',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('api_key_id', sa.Uuid(), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('plan_id', sa.String(length=64), nullable=False),
    sa.Column('resource', sa.String(length=2000), nullable=False),
    sa.Column('client_id', sa.String(length=200), nullable=True),
    sa.Column('issued_at', licensing_api.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', licensing_api.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id'], name=op.f('fk_license_tokens_api_key_id_api_keys'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_license_tokens_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_license_tokens')),
    sa.UniqueConstraint('digest', name=op.f('uq_license_tokens_digest'))
    )
    with op.batch_alter_table('license_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_license_tokens_api_key_id'), ['api_key_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_license_tokens_customer_id'), ['customer_id'], unique=False)

    op.create_table('bot_keys',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('bot_id', sa.Uuid(), nullable=False),
    sa.Column('thumbprint', sa.String(length=64), nullable=False),
    sa.Column('jwk', sa.JSON(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('created_at', licensing_api.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['bot_id'], ['bots.id'], name=op.f('fk_bot_keys_bot_id_bots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bot_keys')),
    sa.UniqueConstraint('thumbprint', name=op.f('uq_bot_keys_thumbprint'))
    )
    with op.batch_alter_table('bot_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bot_keys_bot_id'), ['bot_id'], unique=False)

    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=16), server_default='secret', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_column('kind')

    with op.batch_alter_table('bot_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bot_keys_bot_id'))

    op.drop_table('bot_keys')
    with op.batch_alter_table('license_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_license_tokens_customer_id'))
        batch_op.drop_index(batch_op.f('ix_license_tokens_api_key_id'))

    op.drop_table('license_tokens')
    with op.batch_alter_table('bots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bots_directory_url'))
        batch_op.drop_index(batch_op.f('ix_bots_customer_id'))

    op.drop_table('bots')
