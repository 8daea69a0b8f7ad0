"""console sessions kept on the server

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

Sessions signed into cookies before this revision carry no session id and so end here:
operators log in once more.
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import affiliate.types

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('admin_session',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('id_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', affiliate.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', affiliate.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('agent', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['admin_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('id_hash')
    )
    op.create_index(op.f('ix_admin_session_user_id'), 'admin_session', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_admin_session_user_id'), table_name='admin_session')
    op.drop_table('admin_session')
