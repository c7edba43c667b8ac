"""usage watermarks: per (item, period) how much of Redis's grow-only counter is in the
ledger; report watermark ranges and resend window; Stripe meter error reports

Revision ID: 0014a_usage_watermarks
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import licensing_api.db


revision: str = '0014a_usage_watermarks'
down_revision: str | None = '0017a_protocols'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('usage_watermarks',
    sa.Column('subscription_item_id', sa.Uuid(), nullable=False),
    sa.Column('period_start', licensing_api.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('period_end', licensing_api.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('watermark', sa.BigInteger(), nullable=False),
    sa.Column('regressions', sa.Integer(), nullable=False),
    sa.Column('regressed_units', sa.BigInteger(), nullable=False),
    sa.Column('rebase_to', sa.BigInteger(), nullable=True),
    sa.Column('last_regression_at', licensing_api.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', licensing_api.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['subscription_item_id'], ['subscription_items.id'], name=op.f('fk_usage_watermarks_subscription_item_id_subscription_items'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('subscription_item_id', 'period_start', name=op.f('pk_usage_watermarks'))
    )
    op.create_table('usage_meter_error_reports',
    sa.Column('id', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('meter_id', sa.String(length=255), nullable=True),
    sa.Column('validation_start', licensing_api.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('validation_end', licensing_api.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('error_count', sa.Integer(), nullable=False),
    sa.Column('reports_failed', sa.Integer(), nullable=False),
    sa.Column('units_failed', sa.BigInteger(), nullable=False),
    sa.Column('unmatched', sa.Integer(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('created_at', licensing_api.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_usage_meter_error_reports'))
    )
    with op.batch_alter_table('usage_reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('range_start', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('range_end', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('previous_usage_at', licensing_api.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('dedup_from', licensing_api.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_attempt_at', licensing_api.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('usage_reports', schema=None) as batch_op:
        batch_op.drop_column('last_attempt_at')
        batch_op.drop_column('dedup_from')
        batch_op.drop_column('previous_usage_at')
        batch_op.drop_column('range_end')
        batch_op.drop_column('range_start')
    op.drop_table('usage_meter_error_reports')
    op.drop_table('usage_watermarks')
