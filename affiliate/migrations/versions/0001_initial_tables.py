"""initial tables

Revision ID: 0001
Revises: 
Create Date: 2026-11-26
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import affiliate.types

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('film',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('year', sa.Integer(), nullable=True),
    sa.Column('imdb_id', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=True),
    sa.Column('tmdb_id', sa.Integer(), nullable=True),
    sa.Column('runtime_minutes', sa.Integer(), nullable=True),
    sa.Column('director', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('created_at', affiliate.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('imdb_id'),
    sa.UniqueConstraint('tmdb_id')
    )
    op.create_table('platform',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('logo_url', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.Column('homepage', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('slug')
    )
    op.create_table('product',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('merchant', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('merchant_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('format', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('image_url', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('price', affiliate.types.Money(precision=14, scale=4), nullable=True),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True),
    sa.Column('availability', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('gtin', sqlmodel.sql.sqltypes.AutoString(length=14), nullable=True),
    sa.Column('link', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('region', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('first_seen', affiliate.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen', affiliate.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_checked', affiliate.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('missing_count', sa.Integer(), nullable=False),
    sa.Column('hidden', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('merchant', 'merchant_id', 'region')
    )
    op.create_table('provider_state',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('type', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('last_run_at', affiliate.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_success_at', affiliate.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error_at', affiliate.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error_kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('refresh_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('started_at', affiliate.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', affiliate.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('films_requested', sa.Integer(), nullable=True),
    sa.Column('offers_seen', sa.Integer(), nullable=False),
    sa.Column('offers_added', sa.Integer(), nullable=False),
    sa.Column('offers_changed', sa.Integer(), nullable=False),
    sa.Column('offers_missing', sa.Integer(), nullable=False),
    sa.Column('products_seen', sa.Integer(), nullable=False),
    sa.Column('products_added', sa.Integer(), nullable=False),
    sa.Column('products_changed', sa.Integer(), nullable=False),
    sa.Column('products_missing', sa.Integer(), nullable=False),
    sa.Column('problems', sa.Integer(), nullable=False),
    sa.Column('message', sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('refresh_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refresh_run_provider'), ['provider'], unique=False)

    op.create_table('film_external_id',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('film_id', sa.Integer(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.ForeignKeyConstraint(['film_id'], ['film.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('film_id', 'source'),
    sa.UniqueConstraint('source', 'external_id')
    )
    with op.batch_alter_table('film_external_id', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_film_external_id_film_id'), ['film_id'], unique=False)

    op.create_table('film_product',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('film_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('relation', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('position', sa.Integer(), nullable=True),
    sa.Column('pinned', sa.Boolean(), nullable=False),
    sa.Column('hidden', sa.Boolean(), nullable=False),
    sa.Column('origin', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', affiliate.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['film_id'], ['film.id'], ),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('film_id', 'product_id')
    )
    with op.batch_alter_table('film_product', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_film_product_film_id'), ['film_id'], unique=False)

    op.create_table('offer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('film_id', sa.Integer(), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('region', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('quality', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('price', affiliate.types.Money(precision=14, scale=4), nullable=True),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=True),
    sa.Column('link', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('deep_link', sa.Boolean(), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=True),
    sa.Column('available_since', sa.Date(), nullable=True),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('first_seen', affiliate.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen', affiliate.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_checked', affiliate.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('missing_count', sa.Integer(), nullable=False),
    sa.Column('hidden', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['film_id'], ['film.id'], ),
    sa.ForeignKeyConstraint(['platform_id'], ['platform.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('film_id', 'platform_id', 'region', 'kind', 'quality', 'source')
    )
    with op.batch_alter_table('offer', schema=None) as batch_op:
        batch_op.create_index('ix_offer_film_region', ['film_id', 'region'], unique=False)

    op.create_table('platform_alias',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('platform_id', sa.Integer(), nullable=False),
    sa.Column('namespace', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('external_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.ForeignKeyConstraint(['platform_id'], ['platform.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('namespace', 'external_id')
    )
    with op.batch_alter_table('platform_alias', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_platform_alias_platform_id'), ['platform_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('platform_alias', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_platform_alias_platform_id'))

    op.drop_table('platform_alias')
    with op.batch_alter_table('offer', schema=None) as batch_op:
        batch_op.drop_index('ix_offer_film_region')

    op.drop_table('offer')
    with op.batch_alter_table('film_product', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_film_product_film_id'))

    op.drop_table('film_product')
    with op.batch_alter_table('film_external_id', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_film_external_id_film_id'))

    op.drop_table('film_external_id')
    with op.batch_alter_table('refresh_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refresh_run_provider'))

    op.drop_table('refresh_run')
    op.drop_table('provider_state')
    op.drop_table('product')
    op.drop_table('platform')
    op.drop_table('film')
