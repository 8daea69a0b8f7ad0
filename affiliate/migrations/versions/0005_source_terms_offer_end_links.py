"""sources keep their terms and drop warnings; offers end at an instant; stored links lose
third-party tags

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

`provider_state.terms` keeps the terms a source's adapter declared when it last ran, so its
data keeps its credits even after its type is uninstalled. `offer.expires_at` is the instant
an offer is hidden from: filled here for offers stored with a date only, as the end of that
day in the region's zone. Links already stored lose the third-party affiliate parameters their
source's adapter names (the adapter of the type the source last ran as); a source whose type
is not installed keeps its links as they are.
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import affiliate.types
from providers.regions import end_of_day
from providers.registry import PROVIDER_TYPES

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_BATCH = 500


def upgrade() -> None:
    with op.batch_alter_table('provider_state') as batch:
        batch.add_column(sa.Column('terms', sqlmodel.sql.sqltypes.AutoString(length=8000),
                                   nullable=True))
        batch.add_column(sa.Column('drop_warning', sqlmodel.sql.sqltypes.AutoString(length=500),
                                   nullable=True))
        batch.add_column(sa.Column('drop_warning_at', affiliate.types.UTCDateTime(timezone=True),
                                   nullable=True))
    with op.batch_alter_table('offer') as batch:
        batch.add_column(sa.Column('expires_at', affiliate.types.UTCDateTime(timezone=True),
                                   nullable=True))
    connection = op.get_bind()
    _fill_expiry(connection)
    _strip_third_party_parameters(connection)


def _fill_expiry(connection) -> None:
    offer = sa.table('offer', sa.column('id'), sa.column('region'), sa.column('expires_on', sa.Date),
                     sa.column('expires_at', affiliate.types.UTCDateTime(timezone=True)))
    rows = connection.execute(sa.select(offer.c.id, offer.c.region, offer.c.expires_on)
                              .where(offer.c.expires_on.is_not(None))).all()
    for offer_id, region, day in rows:
        connection.execute(offer.update().where(offer.c.id == offer_id)
                           .values(expires_at=end_of_day(day, region)))


def _strip_third_party_parameters(connection) -> None:
    state = sa.table('provider_state', sa.column('name'), sa.column('type'))
    policies = {name: PROVIDER_TYPES[type_name].link_policy
                for name, type_name in connection.execute(sa.select(state.c.name, state.c.type))
                if type_name in PROVIDER_TYPES and PROVIDER_TYPES[type_name].link_policy.third_party}
    for table_name in ('offer', 'product'):
        table = sa.table(table_name, sa.column('id'), sa.column('source'), sa.column('link'))
        for source, policy in policies.items():
            last = 0
            while True:
                rows = connection.execute(
                    sa.select(table.c.id, table.c.link)
                    .where(table.c.source == source, table.c.id > last)
                    .order_by(table.c.id).limit(_BATCH)).all()
                if not rows:
                    break
                last = rows[-1][0]
                for row_id, link in rows:
                    cleaned, _ = policy.clean(link)
                    if cleaned != link:
                        connection.execute(table.update().where(table.c.id == row_id)
                                           .values(link=cleaned))


def downgrade() -> None:
    with op.batch_alter_table('offer') as batch:
        batch.drop_column('expires_at')
    with op.batch_alter_table('provider_state') as batch:
        batch.drop_column('drop_warning_at')
        batch.drop_column('drop_warning')
        batch.drop_column('terms')
