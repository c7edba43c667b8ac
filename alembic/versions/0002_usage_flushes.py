"""usage flushes: the batches taken out of Redis, one row per ledger write

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import licensing_api.db


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('usage_flushes',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('taken_at', licensing_api.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('units', sa.BigInteger(), nullable=False),
    sa.Column('recovered', sa.Boolean(), nullable=False),
    sa.Column('created_at', licensing_api.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_usage_flushes'))
    )
    with op.batch_alter_table('usage_reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('flush_id', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_usage_reports_flush_id'), ['flush_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_usage_reports_flush_id_usage_flushes'), 'usage_flushes', ['flush_id'], ['id'], ondelete='RESTRICT')


def downgrade() -> None:
    with op.batch_alter_table('usage_reports', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_usage_reports_flush_id_usage_flushes'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_usage_reports_flush_id'))
        batch_op.drop_column('flush_id')
    op.drop_table('usage_flushes')
