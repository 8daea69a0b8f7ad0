"""widget cache revision, clicks, credentials, admin users and tokens

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import affiliate.types

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('admin_user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('password_hash', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('created_at', affiliate.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', affiliate.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    op.create_table('api_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('created_at', affiliate.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', affiliate.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', affiliate.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_table('provider_credential',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('field', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('ciphertext', sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
    sa.Column('hint', sqlmodel.sql.sqltypes.AutoString(length=4), nullable=True),
    sa.Column('updated_at', affiliate.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('provider', 'field')
    )
    op.create_table('click',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', affiliate.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('film_id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=True),
    sa.Column('product_id', sa.Integer(), nullable=True),
    sa.Column('target', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('region', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('widget', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('via', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.ForeignKeyConstraint(['film_id'], ['film.id'], ),
    sa.ForeignKeyConstraint(['offer_id'], ['offer.id'], ),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('click', schema=None) as batch_op:
        batch_op.create_index('ix_click_day', ['day'], unique=False)
        batch_op.create_index('ix_click_film_day', ['film_id', 'day'], unique=False)

    with op.batch_alter_table('film', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revision', sa.Integer(), server_default='0', nullable=False))

    with op.batch_alter_table('provider_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('changes_cursor', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True))
        batch_op.add_column(sa.Column('credentials_checked_at', affiliate.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('credentials_ok', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('credentials_message', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True))
        batch_op.add_column(sa.Column('credentials_checked_fingerprint', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('quota_period', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True))
        batch_op.add_column(sa.Column('notice', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True))
        batch_op.add_column(sa.Column('notice_since', affiliate.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('changes_read_at', affiliate.types.UTCDateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('provider_state', schema=None) as batch_op:
        batch_op.drop_column('changes_read_at')
        batch_op.drop_column('notice_since')
        batch_op.drop_column('notice')
        batch_op.drop_column('quota_period')
        batch_op.drop_column('credentials_checked_fingerprint')
        batch_op.drop_column('credentials_message')
        batch_op.drop_column('credentials_ok')
        batch_op.drop_column('credentials_checked_at')
        batch_op.drop_column('changes_cursor')

    with op.batch_alter_table('film', schema=None) as batch_op:
        batch_op.drop_column('revision')

    with op.batch_alter_table('click', schema=None) as batch_op:
        batch_op.drop_index('ix_click_film_day')
        batch_op.drop_index('ix_click_day')

    op.drop_table('click')
    op.drop_table('provider_credential')
    op.drop_table('api_token')
    op.drop_table('admin_user')
