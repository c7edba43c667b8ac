"""provisioning attempts: the id of each `customers create` run in its Stripe idempotency keys

Revision ID: 0016a_provisioning_attempts
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import licensing_api.db


revision: str = '0016a_provisioning_attempts'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('provisioning_attempts',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('plan_id', sa.String(length=64), nullable=False),
    sa.Column('started_at', licensing_api.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('completed_at', licensing_api.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('abandoned_at', licensing_api.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_provisioning_attempts'))
    )
    op.create_index('ix_provisioning_attempts_email_plan', 'provisioning_attempts', ['email', 'plan_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_provisioning_attempts_email_plan', table_name='provisioning_attempts')
    op.drop_table('provisioning_attempts')
