"""webhook endpoints and their delivery outbox

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import affiliate.types

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    when = affiliate.types.UTCDateTime(timezone=True)
    op.create_table(
        'webhook_endpoint',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('url', text(length=2000), nullable=False),
        sa.Column('description', text(length=200), nullable=False),
        sa.Column('secret_ciphertext', text(), nullable=False),
        sa.Column('events', text(), nullable=False),
        sa.Column('regions', text(), nullable=False),
        sa.Column('platforms', text(), nullable=False),
        sa.Column('films', text(), nullable=False),
        sa.Column('state', text(length=10), nullable=False),
        sa.Column('state_reason', text(length=500), nullable=True),
        sa.Column('state_changed_at', when, nullable=True),
        sa.Column('created_at', when, nullable=False),
        sa.PrimaryKeyConstraint('id'))
    op.create_table(
        'webhook_delivery',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('endpoint_id', sa.Integer(), nullable=False),
        sa.Column('message_id', text(length=64), nullable=False),
        sa.Column('event', text(length=16), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=True),
        sa.Column('payload', text(), nullable=True),
        sa.Column('status', text(length=10), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', when, nullable=True),
        sa.Column('lease_until', when, nullable=True),
        sa.Column('last_attempt_at', when, nullable=True),
        sa.Column('last_status', sa.Integer(), nullable=True),
        sa.Column('last_error', text(length=500), nullable=True),
        sa.Column('created_at', when, nullable=False),
        sa.Column('delivered_at', when, nullable=True),
        sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoint.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('endpoint_id', 'message_id'))
    op.create_index('ix_webhook_delivery_endpoint_id', 'webhook_delivery', ['endpoint_id'])
    op.create_index('ix_webhook_delivery_due', 'webhook_delivery', ['status', 'next_attempt_at'])


def downgrade() -> None:
    op.drop_index('ix_webhook_delivery_due', table_name='webhook_delivery')
    op.drop_index('ix_webhook_delivery_endpoint_id', table_name='webhook_delivery')
    op.drop_table('webhook_delivery')
    op.drop_table('webhook_endpoint')
