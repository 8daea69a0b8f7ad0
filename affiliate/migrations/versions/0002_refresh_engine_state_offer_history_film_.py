"""refresh engine state, offer history, film views

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import affiliate.types

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('film_provider_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('film_id', sa.Integer(), nullable=False),
    sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('due_at', affiliate.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_attempt_at', affiliate.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_success_at', affiliate.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lease_owner', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('lease_expires_at', affiliate.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['film_id'], ['film.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('film_id', 'provider')
    )
    with op.batch_alter_table('film_provider_state', schema=None) as batch_op:
        batch_op.create_index('ix_film_provider_state_due', ['provider', 'due_at'], unique=False)

    op.create_table('film_view',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('film_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('views', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['film_id'], ['film.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('film_id', 'day')
    )
    op.create_table('offer_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('film_id', sa.Integer(), nullable=False),
    sa.Column('event', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('price_before', affiliate.types.Money(precision=14, scale=4), nullable=True),
    sa.Column('price_after', affiliate.types.Money(precision=14, scale=4), nullable=True),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True),
    sa.Column('at', affiliate.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['film_id'], ['film.id'], ),
    sa.ForeignKeyConstraint(['offer_id'], ['offer.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('offer_event', schema=None) as batch_op:
        batch_op.create_index('ix_offer_event_film_at', ['film_id', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_offer_event_offer_id'), ['offer_id'], unique=False)

    with op.batch_alter_table('provider_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paused_until', affiliate.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('breaker_state', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False, server_default='closed'))
        batch_op.add_column(sa.Column('breaker_opened_at', affiliate.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('auth_blocked_fingerprint', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('quota_remaining', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('quota_checked_at', affiliate.types.UTCDateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('provider_state', schema=None) as batch_op:
        batch_op.drop_column('quota_checked_at')
        batch_op.drop_column('quota_remaining')
        batch_op.drop_column('auth_blocked_fingerprint')
        batch_op.drop_column('breaker_opened_at')
        batch_op.drop_column('breaker_state')
        batch_op.drop_column('paused_until')

    with op.batch_alter_table('offer_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_offer_event_offer_id'))
        batch_op.drop_index('ix_offer_event_film_at')

    op.drop_table('offer_event')
    op.drop_table('film_view')
    with op.batch_alter_table('film_provider_state', schema=None) as batch_op:
        batch_op.drop_index('ix_film_provider_state_due')

    op.drop_table('film_provider_state')
