"""budgets: spend limits per customer and period, and the claims of their threshold notices

Revision ID: 0019b_budgets
Revises: 0013a_lifecycle
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import licensing_api.db


revision: str = '0019b_budgets'
down_revision: str | None = '0013a_lifecycle'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('budgets',
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('thresholds', sa.JSON(), nullable=False),
    sa.Column('hard_stop', sa.Boolean(), nullable=False),
    sa.Column('created_at', licensing_api.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', licensing_api.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_budgets_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_budgets'))
    )
    op.create_table('budget_notices',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('period_start', licensing_api.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('period_end', licensing_api.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('threshold', sa.Integer(), nullable=False),
    sa.Column('budget_amount', sa.BigInteger(), nullable=False),
    sa.Column('amount_reached', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('sending_until', licensing_api.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sent_at', licensing_api.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', licensing_api.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_budget_notices_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_budget_notices')),
    sa.UniqueConstraint('customer_id', 'period_start', 'threshold', name='uq_budget_notices_period_threshold')
    )


def downgrade() -> None:
    op.drop_table('budget_notices')
    op.drop_table('budgets')
