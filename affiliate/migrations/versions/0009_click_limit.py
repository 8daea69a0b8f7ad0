"""click-limit windows: each window's random key and its visitors' click counts

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import affiliate.types

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('click_window',
    sa.Column('starts_at', affiliate.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('starts_at')
    )
    op.create_table('visitor_clicks',
    sa.Column('starts_at', affiliate.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('visitor', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('clicks', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('starts_at', 'visitor')
    )


def downgrade() -> None:
    op.drop_table('visitor_clicks')
    op.drop_table('click_window')
