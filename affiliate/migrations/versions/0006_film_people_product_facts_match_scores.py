"""films know their people; products their facts; candidate links their match score

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

`film.title_key` is each title folded as matching compares them, filled here for stored films.
The rules score only links waiting for review and the ones they decided themselves, so links
approved or rejected before scoring existed (decided_by NULL) keep that decision.
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import affiliate.types
from affiliate.matching.titles import fold

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('film_person',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('film_id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['film_id'], ['film.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_film_person_film_id', 'film_person', ['film_id'], unique=False)
    op.create_index('ix_film_person_name', 'film_person', ['name'], unique=False)
    with op.batch_alter_table('film') as batch:
        batch.add_column(sa.Column('title_key', sqlmodel.sql.sqltypes.AutoString(length=300),
                                   nullable=True))
        batch.add_column(sa.Column('original_title', sqlmodel.sql.sqltypes.AutoString(length=300),
                                   nullable=True))
        batch.add_column(sa.Column('poster_url', sqlmodel.sql.sqltypes.AutoString(length=1000),
                                   nullable=True))
    op.create_index('ix_film_title_key', 'film', ['title_key'], unique=False)
    film = sa.table('film', sa.column('id'), sa.column('title'), sa.column('title_key'))
    connection = op.get_bind()
    for film_id, title in connection.execute(sa.select(film.c.id, film.c.title)).all():
        connection.execute(film.update().where(film.c.id == film_id).values(title_key=fold(title)))
    with op.batch_alter_table('product') as batch:
        batch.add_column(sa.Column('facts', sqlmodel.sql.sqltypes.AutoString(length=20000),
                                   nullable=True))
    with op.batch_alter_table('film_provider_state') as batch:
        batch.add_column(sa.Column('discovered_at', affiliate.types.UTCDateTime(timezone=True),
                                   nullable=True))
    with op.batch_alter_table('film_product') as batch:
        batch.add_column(sa.Column('match_score', sa.Float(), nullable=True))
        batch.add_column(sa.Column('match_reasons', sqlmodel.sql.sqltypes.AutoString(length=4000),
                                   nullable=True))
        batch.add_column(sa.Column('decided_by', sqlmodel.sql.sqltypes.AutoString(length=10),
                                   nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('film_provider_state') as batch:
        batch.drop_column('discovered_at')
    with op.batch_alter_table('film_product') as batch:
        batch.drop_column('decided_by')
        batch.drop_column('match_reasons')
        batch.drop_column('match_score')
    with op.batch_alter_table('product') as batch:
        batch.drop_column('facts')
    op.drop_index('ix_film_title_key', table_name='film')
    with op.batch_alter_table('film') as batch:
        batch.drop_column('title_key')
        batch.drop_column('poster_url')
        batch.drop_column('original_title')
    op.drop_index('ix_film_person_name', table_name='film_person')
    op.drop_index('ix_film_person_film_id', table_name='film_person')
    op.drop_table('film_person')
