"""lifecycle: local billing anchors, scheduled plan changes, cancel_at, items that ended, signup secrets in the database

Revision ID: 0013a_lifecycle
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import licensing_api.db


revision: str = '0013a_lifecycle'
down_revision: str | None = '0014a_usage_watermarks'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('billing_anchor', licensing_api.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('cancel_at', licensing_api.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('scheduled_plan_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('scheduled_change_at', licensing_api.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('stripe_schedule_id', sa.String(length=255), nullable=True))
    with op.batch_alter_table('subscription_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ended_at', licensing_api.db.UTCDateTime(timezone=True), nullable=True))
    op.create_table('signup_secrets',
    sa.Column('checkout_session_id', sa.String(length=255), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('sealed_secret', sa.Text(), nullable=True),
    sa.Column('expires_at', licensing_api.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('shown_at', licensing_api.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', licensing_api.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_signup_secrets_customer_id_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('checkout_session_id', name=op.f('pk_signup_secrets'))
    )
    with op.batch_alter_table('signup_secrets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signup_secrets_customer_id'), ['customer_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('signup_secrets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signup_secrets_customer_id'))
    op.drop_table('signup_secrets')
    with op.batch_alter_table('subscription_items', schema=None) as batch_op:
        batch_op.drop_column('ended_at')
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_column('stripe_schedule_id')
        batch_op.drop_column('scheduled_change_at')
        batch_op.drop_column('scheduled_plan_id')
        batch_op.drop_column('cancel_at')
        batch_op.drop_column('billing_anchor')
