"""Reconciles provider results into the database: the only writer of offers and products.

Rules (see shared/DESIGN.md): records are upserted and stamped with their source; only a
complete answer may count an offer or product as missing, and even then it is hidden after
`hide_after_misses` consecutive misses, never deleted. A complete answer that would hide
more than `max_hidden_share` of the source's visible offers (or products) is quarantined:
reported, not applied; one that leaves out that share is applied (one miss each) and reported
at once (`drop_warning`), so an operator hears of it on the first run, not the third. Each film's offers, products and history change in one transaction, so an
interrupted refresh leaves every film either as before or as after.

The same transaction raises the revision (affiliate.revisions) of every film whose widgets
show something different: an offer or product added, changed, hidden or shown again, a
product link that appeared or moved, the film's own details. A check that changes nothing
but `last_checked` raises none, except where the source's prices are shown with their age
(`dated_prices`: Amazon's "as of"), since that age is on the page.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from sqlalchemy import func, insert, or_, update
from sqlmodel import Session, select

from affiliate import history, revisions
from affiliate.db import Database, conflict_insert
from affiliate.matching.facts import facts_to_json
from affiliate.models import (
    Film,
    FilmExternalId,
    FilmPerson,
    FilmProduct,
    Offer,
    Platform,
    PlatformAlias,
    Product,
)
from affiliate.types import utcnow
from providers.base import (
    ChangedFilm,
    FilmKey,
    FilmRecord,
    OfferRecord,
    Person,
    PlatformRecord,
    Problem,
    ProductFormat,
    ProductLink,
    ProductRecord,
    ProviderResult,
)
from providers.link_policy import LinkPolicy
from providers.platforms import CANONICAL
from providers.regions import end_of_day

_OFFER_FIELDS = ("price", "currency", "link", "deep_link", "expires_on", "available_since")
_PRODUCT_FIELDS = ("title", "format", "image_url", "price", "currency", "availability", "gtin", "link")


@dataclass
class ReconcileStats:
    offers_seen: int = 0
    offers_added: int = 0
    offers_changed: int = 0
    offers_missing: int = 0
    products_seen: int = 0
    products_added: int = 0
    products_changed: int = 0
    products_missing: int = 0
    problems: list[Problem] = field(default_factory=list)
    quarantined: str | None = None  # why the answer was not applied
    drop_warning: str | None = None  # applied, but it leaves out a suspicious share
    removals: Removals | None = None  # what the run left out so far (chunks add up)
    covered_films: set[int] = field(default_factory=set)  # films the answer spoke for in full
    # Films the answer said anything about, and the products it stored: what candidate
    # scoring (affiliate.candidates) looks at again.
    films_touched: set[int] = field(default_factory=set)
    products_stored: set[int] = field(default_factory=set)
    film_ids: dict[FilmKey, int] = field(default_factory=dict)  # the answer's films, resolved

    def film_ids_of(self, keys: Iterable[FilmKey]) -> set[int]:
        return {self.film_ids[key] for key in keys if key in self.film_ids}


def prepare(db: Database) -> None:
    """Migrate the schema and add any canonical platform the database lacks."""
    db.upgrade()
    with db.session() as session:
        known = set(session.exec(select(Platform.slug)))
        for slug, canonical in CANONICAL.items():
            if slug not in known:
                session.add(Platform(slug=slug, name=canonical.name, homepage=canonical.homepage))


def store_platforms(db: Database, records: Iterable[PlatformRecord]) -> int:
    """Learn platforms from a source's directory: names for new ones, logos, aliases."""
    with db.session() as session:
        return len(set(_upsert_platforms(session, set(records)).values()))


def film_key(film: Film) -> FilmKey:
    """The reference shown for a stored film: its IMDb id, else its TMDB id, else its own."""
    return key_of(film.id, film.imdb_id, film.tmdb_id)


def key_of(film_id: int, imdb_id: str | None, tmdb_id: int | None) -> FilmKey:
    """film_key from a film's ids, for queries that read columns rather than rows."""
    if imdb_id:
        return FilmKey(imdb_id=imdb_id)
    if tmdb_id is not None:
        return FilmKey(tmdb_id=tmdb_id)
    return FilmKey(internal_id=film_id)


def find_film(session: Session, key: FilmKey) -> Film | None:
    if key.internal_id is not None:
        return session.get(Film, key.internal_id)
    if key.imdb_id:
        return session.exec(select(Film).where(Film.imdb_id == key.imdb_id)).first()
    return session.exec(select(Film).where(Film.tmdb_id == key.tmdb_id)).first()


def films_named(db: Database, source_type: str, named: Iterable[ChangedFilm]) -> set[int]:
    """The stored films a change feed named: by IMDb id, TMDB id or the source's own id
    (kept under `source_type` in film_external_id). Creates none: a feed names films the
    catalog never asked about."""
    named = list(named)
    imdb = {film.imdb_id for film in named if film.imdb_id}
    tmdb = {film.tmdb_id for film in named if film.tmdb_id is not None}
    own = {film.source_id for film in named if film.source_id}
    found: set[int] = set()
    with db.session() as session:
        for chunk in _chunks(sorted(imdb)):
            found.update(session.exec(select(Film.id).where(Film.imdb_id.in_(chunk))))
        for chunk in _chunks(sorted(tmdb)):
            found.update(session.exec(select(Film.id).where(Film.tmdb_id.in_(chunk))))
        for chunk in _chunks(sorted(own)):
            found.update(session.exec(select(FilmExternalId.film_id).where(
                FilmExternalId.source == source_type, FilmExternalId.external_id.in_(chunk))))
    return found


def _chunks(values: list, size: int = 500) -> Iterable[list]:
    """Bounded IN lists: SQLite allows a limited number of parameters per statement."""
    return (values[start:start + size] for start in range(0, len(values), size))


def reconcile(db: Database, source: str, result: ProviderResult, hide_after_misses: int,
              max_hidden_share: float = 1.0, now: dt.datetime | None = None,
              dated_prices: bool = False, link_policy: LinkPolicy = LinkPolicy(),
              so_far: Removals | None = None) -> ReconcileStats:
    """Store `result` as `source`'s current word; return what changed. `dated_prices`: the
    widgets show when this source's product prices were checked. `link_policy`: the
    source's; the third-party affiliate parameters it names leave every link before storing.
    `so_far`: what the earlier chunks of this run left out (ReconcileStats.removals), so the
    run is judged whole."""
    so_far = so_far or Removals()
    now = now or utcnow()
    stats = ReconcileStats(problems=list(result.problems))
    result = _without_third_party_parameters(result, link_policy, stats.problems)
    with db.session() as session:
        platform_ids = _upsert_platforms(session, {o.platform for o in result.offers})
        film_ids, changed_films = _upsert_films(session, result.films, stats.problems)
        revisions.bump(session, changed_films)
    film_ids.update(_resolve_keys(db, _referenced_keys(result) - film_ids.keys()))
    offers_by_film = _offers_by_film(result.offers, film_ids, platform_ids, stats)
    products_by_film = _products_by_film(result.products, film_ids, stats)
    # Adapters leave films they could not read out of `covered`, so one film's problem
    # does not make the answer for the others less complete.
    covered = {film_ids[key] for key in result.covered if key in film_ids} if result.complete else set()

    answered = {_product_key(record) for record in result.products}
    removals = so_far + _removals(db, source, offers_by_film, answered, covered, hide_after_misses)
    stats.quarantined = removals.quarantine_reason(max_hidden_share)
    if stats.quarantined:
        stats.removals = so_far
        return stats
    stats.removals = removals
    stats.drop_warning = removals.drop_warning(max_hidden_share, hide_after_misses)
    stats.covered_films = covered
    stats.films_touched = set(film_ids.values()) | set(offers_by_film) | set(products_by_film)
    stats.film_ids = film_ids
    # A source that lists no products and holds none (TMDB, Watchmode) cannot miss one:
    # no need to look for its products film by film.
    may_hold_products = bool(result.products) or _holds_products(db, source)
    counted: set[tuple] = set()
    for film_id in sorted(set(offers_by_film) | set(products_by_film) | covered):
        with db.session() as session:  # one transaction per film
            changed: set[int] = set()
            if _reconcile_film_offers(session, film_id, source, offers_by_film.get(film_id, {}),
                                      film_id in covered, hide_after_misses, now, stats):
                changed.add(film_id)
            changed |= _reconcile_film_products(
                session, film_id, source, products_by_film.get(film_id, []),
                answered if film_id in covered and may_hold_products else None,
                hide_after_misses, now, stats, counted, dated_prices)
            revisions.bump(session, changed)
    return stats


def _without_third_party_parameters(result: ProviderResult, policy: LinkPolicy,
                                    problems: list[Problem]) -> ProviderResult:
    """The result with every link stripped of the third-party affiliate parameters the
    source's policy names (so only the operator's [[link_tags]] are added when shown). A link
    that stripping would leave pointing at a bare host is kept as it was and reported."""
    if not policy.third_party:
        return result

    def clean(link: str, where: str) -> str:
        cleaned, kept_because = policy.clean(link)
        if kept_because:
            problems.append(Problem(where, kept_because))
        return cleaned

    offers = [replace(offer, link=clean(offer.link, f"offer {index}"))
              for index, offer in enumerate(result.offers)]
    products = [replace(product, link=clean(product.link, f"product {product.merchant_id}"))
                for product in result.products]
    return replace(result, offers=offers, products=products)


def _holds_products(db: Database, source: str) -> bool:
    with db.session() as session:
        return session.exec(select(Product.id).where(Product.source == source).limit(1)).first() is not None


def _offers_by_film(records: list[OfferRecord], film_ids: dict[FilmKey, int],
                    platform_ids: dict[PlatformRecord, int],
                    stats: ReconcileStats) -> dict[int, dict[tuple, OfferRecord]]:
    """Offers keyed as stored (platform, region, kind, quality), per film; the first of
    any repeats wins."""
    grouped: dict[int, dict[tuple, OfferRecord]] = defaultdict(dict)
    for index, record in enumerate(records):
        film_id = film_ids.get(record.film)
        if film_id is None:
            stats.problems.append(Problem(f"offer {index}", f"unknown film {record.film}"))
            continue
        key = (platform_ids[record.platform], record.region, record.kind.value, record.quality.value)
        grouped[film_id].setdefault(key, record)
    return grouped


def _products_by_film(records: list[ProductRecord], film_ids: dict[FilmKey, int],
                      stats: ReconcileStats) -> dict[int, list[tuple[ProductRecord, ProductLink]]]:
    grouped: dict[int, list[tuple[ProductRecord, ProductLink]]] = defaultdict(list)
    for record in records:
        unknown = [str(link.film) for link in record.films if link.film not in film_ids]
        if unknown:
            stats.problems.append(
                Problem(f"product {record.merchant_id}", f"unknown film {', '.join(unknown)}"))
        for link in record.films:
            if link.film in film_ids:
                grouped[film_ids[link.film]].append((record, link))
    return grouped


@dataclass(frozen=True)
class Removals:
    """What a complete answer leaves out of what the source shows now: `dropped`, the visible
    rows it counts a miss for; `hidden`, those that miss hides at once; `visible`, all the
    source's visible rows. Offers and products are judged apart (a source has mostly one).
    A run in chunks adds its chunks' up (the visible counts are the first chunk's)."""

    offers_dropped: int = 0
    offers_hidden: int = 0
    offers_visible: int = 0
    products_dropped: int = 0
    products_hidden: int = 0
    products_visible: int = 0

    def quarantine_reason(self, max_share: float) -> str | None:
        """Why the answer is too suspicious to apply (an outage that looks like an empty
        catalog), or None."""
        for what, hidden, visible in self._kinds("hidden"):
            if hidden and hidden / visible > max_share:
                return (f"the answer would hide {hidden} of {visible} visible {what}, more than "
                        f"{max_share:.0%}; nothing was applied (refresh with --accept-removals "
                        "to apply)")
        return None

    def drop_warning(self, max_share: float, hide_after_misses: int) -> str | None:
        """Said on the first such answer, not only when the misses add up to a quarantine."""
        for what, dropped, visible in self._kinds("dropped"):
            if dropped and dropped / visible > max_share:
                return (f"the answer leaves out {dropped} of {visible} visible {what} "
                        f"({dropped / visible:.0%}, more than {max_share:.0%}); they are hidden "
                        f"after {hide_after_misses} such answers in a row, and the last is "
                        "quarantined: check the source")
        return None

    def __add__(self, other: Removals) -> Removals:
        return Removals(
            self.offers_dropped + other.offers_dropped, self.offers_hidden + other.offers_hidden,
            self.offers_visible or other.offers_visible,
            self.products_dropped + other.products_dropped,
            self.products_hidden + other.products_hidden,
            self.products_visible or other.products_visible)

    def _kinds(self, which: str):
        return (("offers", getattr(self, f"offers_{which}"), self.offers_visible),
                ("products", getattr(self, f"products_{which}"), self.products_visible))


def _removals(db: Database, source: str, offers_by_film: dict[int, dict[tuple, OfferRecord]],
              answered: set[tuple], covered: set[int], hide_after_misses: int) -> Removals:
    """Counted before anything is applied. Only the covered films' rows are read; the
    source's totals are counted in SQL, so a chunk of a large catalog costs what it holds."""
    if not covered:
        return Removals()
    offer_shown = (Offer.source == source) & (Offer.hidden == False)
    product_shown = (Product.source == source) & (Product.hidden == False)
    with db.session() as session:
        offers = [offer for offer in session.exec(select(Offer).where(
                      offer_shown, Offer.film_id.in_(covered)))
                  if _stored_key(offer) not in offers_by_film.get(offer.film_id, {})]
        products = {product.id: product for product in session.exec(
            select(Product).join(FilmProduct, FilmProduct.product_id == Product.id)
            .where(product_shown, FilmProduct.film_id.in_(covered)))
            if (product.merchant, product.merchant_id, product.region) not in answered}
        removals = Removals(
            offers_dropped=len(offers),
            offers_hidden=sum(1 for o in offers if o.missing_count + 1 >= hide_after_misses),
            products_dropped=len(products),
            products_hidden=sum(1 for p in products.values()
                                if p.missing_count + 1 >= hide_after_misses))
        if not (removals.offers_dropped or removals.products_dropped):
            return removals
        count = select(func.count())
        return replace(
            removals,
            offers_visible=session.exec(count.select_from(Offer).where(offer_shown)).one(),
            products_visible=session.exec(count.select_from(Product).where(product_shown)).one())


def _stored_key(offer: Offer) -> tuple:
    return (offer.platform_id, offer.region, offer.kind, offer.quality)


def _product_key(record: ProductRecord) -> tuple:
    return (record.merchant, record.merchant_id, record.region)


def _referenced_keys(result: ProviderResult) -> set[FilmKey]:
    keys = {offer.film for offer in result.offers} | set(result.covered)
    keys |= {link.film for product in result.products for link in product.films}
    return keys


def _resolve_keys(db: Database, keys: Iterable[FilmKey]) -> dict[FilmKey, int]:
    """Stored films' ids for keys, a few queries for any number of keys (a chunk names hundreds)."""
    keys = list(keys)
    by_column = ((Film.imdb_id, {k.imdb_id for k in keys if k.imdb_id}),
                 (Film.tmdb_id, {k.tmdb_id for k in keys if not k.imdb_id and k.tmdb_id is not None}),
                 (Film.id, {k.internal_id for k in keys if k.internal_id is not None}))
    found: dict[tuple, int] = {}
    with db.session() as session:
        for column, values in by_column:
            for chunk in _chunks(sorted(values)):
                for film_id, value in session.exec(select(Film.id, column).where(column.in_(chunk))):
                    found[(column.key, value)] = film_id
    resolved = {}
    for key in keys:
        if key.imdb_id:
            film_id = found.get(("imdb_id", key.imdb_id))
        elif key.tmdb_id is not None:
            film_id = found.get(("tmdb_id", key.tmdb_id))
        else:
            film_id = found.get(("id", key.internal_id))
        if film_id is not None:
            resolved[key] = film_id
    return resolved


def _upsert_platforms(session: Session, records: set[PlatformRecord]) -> dict[PlatformRecord, int]:
    """Map each record to a platform: by the source's own id (alias), else by slug; a
    platform first seen is created under the source's name and slug.

    Several processes store the same platforms at once: records are taken in one fixed
    order, so their rows are locked in the same order everywhere (no deadlock), and new
    platforms and aliases are inserted with ON CONFLICT DO NOTHING, so the second process
    to add one uses the first's."""
    ids = {}
    for record in sorted(records, key=_platform_order):
        platform = _platform_row(session, record)
        # A source that knows no logo or homepage does not erase another source's.
        missing = {attr: getattr(record, attr) for attr in ("logo_url", "homepage")
                   if getattr(record, attr) and getattr(platform, attr) is None}
        for attr, value in missing.items():
            column = getattr(Platform.__table__.c, attr)
            session.execute(update(Platform.__table__)
                            .where(Platform.__table__.c.id == platform.id, column.is_(None))
                            .values({attr: value}))
        if record.namespace and record.external_id:
            session.execute(conflict_insert(session.get_bind(), PlatformAlias.__table__)
                            .values(platform_id=platform.id, namespace=record.namespace,
                                    external_id=record.external_id)
                            .on_conflict_do_nothing(index_elements=["namespace", "external_id"]))
        ids[record] = platform.id
    return ids


def _platform_order(record: PlatformRecord) -> tuple:
    return (record.slug, record.namespace or "", record.external_id or "", record.name)


def _platform_row(session: Session, record: PlatformRecord):
    """The platform's (id, logo_url, homepage), created if neither its alias nor its slug is known."""
    table = Platform.__table__
    columns = (table.c.id, table.c.logo_url, table.c.homepage)
    alias = PlatformAlias.__table__
    if record.namespace and record.external_id:
        aliased = session.execute(
            select(*columns).join(alias, alias.c.platform_id == table.c.id)
            .where(alias.c.namespace == record.namespace, alias.c.external_id == record.external_id)).first()
        if aliased is not None:
            return aliased
    by_slug = select(*columns).where(table.c.slug == record.slug)
    found = session.execute(by_slug).first()
    if found is None:
        session.execute(conflict_insert(session.get_bind(), table)
                        .values(slug=record.slug, name=record.name)
                        .on_conflict_do_nothing(index_elements=["slug"]))
        found = session.execute(by_slug).first()
    return found


def _upsert_films(session: Session, records: list[FilmRecord],
                  problems: list[Problem]) -> tuple[dict[FilmKey, int], set[int]]:
    """Store what sources say about films; return their ids, and the stored films whose
    details changed."""
    ids: dict[FilmKey, int] = {}
    changed: set[int] = set()
    for record in records:
        # A film asked about by IMDb or TMDB id is that id's film even when the source's
        # answer does not repeat it (Watchmode maps ids without echoing them).
        record = replace(record, imdb_id=record.imdb_id or record.key.imdb_id,
                         tmdb_id=record.tmdb_id if record.tmdb_id is not None else record.key.tmdb_id)
        film = _find_film_for_record(session, record)
        stored = film is not None
        if film is None:
            film = Film(title=record.title or str(record.key))
        values = {"title": record.title or film.title}
        for attr in ("year", "imdb_id", "tmdb_id", "runtime_minutes", "director", "original_title",
                     "poster_url"):
            value = getattr(record, attr)
            if value is not None:
                values[attr] = value
        for attr in ("imdb_id", "tmdb_id"):
            holder = _id_holder(session, attr, values.get(attr), film.id)
            if holder is not None:
                # Two films claim one id (an operator's duplicate, or a source's mix-up): keep
                # the id where it is, store the rest, let an operator decide.
                problems.append(Problem(f"film {film.id}",
                                        f"{attr} {values.pop(attr)} already belongs to film {holder}"))
        if _apply(film, values) and stored:
            changed.add(film.id)
        session.add(film)
        session.flush()
        if record.people is not None and _store_people(session, film.id, record.people) and stored:
            changed.add(film.id)
        for id_source, external_id in record.external_ids.items():
            _upsert_external_id(session, film.id, id_source, external_id, problems)
        ids[record.key] = film.id
    return ids, changed


def _id_holder(session: Session, attr: str, value: object, film_id: int | None) -> int | None:
    if value is None:
        return None
    column = getattr(Film, attr)
    holder = session.exec(select(Film.id).where(column == value)).first()
    return holder if holder is not None and holder != film_id else None


def _store_people(session: Session, film_id: int, people: tuple[Person, ...]) -> bool:
    """The film's credits as the source lists them now; True if they changed."""
    stored = session.exec(select(FilmPerson).where(FilmPerson.film_id == film_id)
                          .order_by(FilmPerson.position)).all()
    if [(row.name, row.role) for row in stored] == [(p.name, p.role) for p in people]:
        return False
    for row in stored:
        session.delete(row)
    session.flush()
    session.add_all(FilmPerson(film_id=film_id, name=person.name[:200], role=person.role[:20],
                               position=position) for position, person in enumerate(people))
    return True


def _find_film_for_record(session: Session, record: FilmRecord) -> Film | None:
    """The film asked about first: another film holding one of the answer's ids is a clash to
    report, not the film to update."""
    asked = find_film(session, record.key)
    if asked is not None:
        return asked
    conditions = []
    if record.imdb_id:
        conditions.append(Film.imdb_id == record.imdb_id)
    if record.tmdb_id is not None:
        conditions.append(Film.tmdb_id == record.tmdb_id)
    if not conditions:
        return find_film(session, record.key)
    return session.exec(select(Film).where(or_(*conditions))).first()


def _upsert_external_id(session: Session, film_id: int, source: str, external_id: str,
                        problems: list[Problem]) -> None:
    holder = session.exec(select(FilmExternalId.film_id).where(
        FilmExternalId.source == source, FilmExternalId.external_id == external_id)).first()
    if holder is not None and holder != film_id:
        # Two films matched to one source id: keep the first, let an operator decide.
        problems.append(Problem(f"film {film_id}",
                                f"{source} id {external_id} already belongs to film {holder}"))
        return
    row = session.exec(
        select(FilmExternalId).where(FilmExternalId.film_id == film_id,
                                     FilmExternalId.source == source)
    ).first()
    if row is None:
        row = FilmExternalId(film_id=film_id, source=source, external_id=external_id)
    row.external_id = external_id
    session.add(row)


def _reconcile_film_offers(session: Session, film_id: int, source: str,
                           records: dict[tuple, OfferRecord], may_mark_missing: bool,
                           hide_after_misses: int, now: dt.datetime, stats: ReconcileStats) -> bool:
    """Upsert one film's offers from `source` and write their history; True if anything a
    widget shows changed. New offers and their 'appeared' events go in as multi-row
    INSERTs, not objects: a first refresh of a large catalog is mostly new offers."""
    stored = {_stored_key(o): o for o in session.exec(
        select(Offer).where(Offer.film_id == film_id, Offer.source == source))}
    changes: list[history.Change] = []
    new_rows: list[dict] = []
    edited = False
    for key, record in records.items():
        stats.offers_seen += 1
        offer = stored.get(key)
        values = {attr: getattr(record, attr) for attr in _OFFER_FIELDS}
        values["expires_at"] = _ends_at(record)
        if offer is None:
            new_rows.append({"film_id": film_id, "platform_id": key[0], "region": key[1],
                             "kind": key[2], "quality": key[3], "source": source, "first_seen": now,
                             "last_seen": now, "last_checked": now, "missing_count": 0,
                             "hidden": False, **values})
            continue
        price_before, was_hidden = offer.price, offer.hidden
        if _apply(offer, values) or was_hidden:
            stats.offers_changed += 1
            edited = True
        _mark_seen(session, offer, now)
        if was_hidden:
            changes.append(history.Change.of(offer, history.RETURNED))
        elif offer.price != price_before:
            changes.append(history.Change.of(offer, history.PRICE_CHANGED, price_before))
    for key, offer in stored.items() if may_mark_missing else ():
        if key not in records and not offer.hidden:
            _mark_missing(session, offer, now, hide_after_misses)
            stats.offers_missing += 1
            if offer.hidden:
                changes.append(history.Change.of(offer, history.LEFT))
    if new_rows:
        stats.offers_added += len(new_rows)
        ids = session.execute(insert(Offer.__table__).returning(Offer.__table__.c.id,
                                                                sort_by_parameter_order=True),
                              new_rows).scalars().all()
        changes += [history.Change(offer_id, film_id, history.APPEARED, row["price"], row["currency"])
                    for offer_id, row in zip(ids, new_rows, strict=True)]
    history.record(session, changes, now)
    return edited or bool(changes)


def _ends_at(record: OfferRecord) -> dt.datetime | None:
    """The instant the offer is hidden from: the source's own, else the end of its last day
    in the region's zone."""
    if record.expires_at is not None:
        return record.expires_at.astimezone(dt.UTC)
    return end_of_day(record.expires_on, record.region) if record.expires_on else None


def _mark_seen(session: Session, row: Offer | Product, now: dt.datetime) -> None:
    row.last_seen = row.last_checked = now
    row.missing_count = 0
    row.hidden = False
    session.add(row)


def _mark_missing(session: Session, row: Offer | Product, now: dt.datetime,
                  hide_after_misses: int) -> None:
    """One more complete answer without this row; hidden (kept as history) at the limit."""
    row.missing_count += 1
    row.last_checked = now
    row.hidden = row.missing_count >= hide_after_misses
    session.add(row)


def _apply(row, values: dict) -> bool:
    changed = False
    for attr, value in values.items():
        if getattr(row, attr) != value:
            setattr(row, attr, value)
            changed = True
    return changed


def _reconcile_film_products(session: Session, film_id: int, source: str,
                             links: list[tuple[ProductRecord, ProductLink]],
                             answered: set[tuple] | None, hide_after_misses: int,
                             now: dt.datetime, stats: ReconcileStats, counted: set[tuple],
                             dated_prices: bool) -> set[int]:
    """Upsert this film's products and links; with `answered` (a complete answer's product
    keys), count a miss for this source's products it no longer lists. Returns the films
    whose widgets changed: a product shows with every film linked to it."""
    changed: set[int] = set()
    for record, link in links:
        product, product_changed = _upsert_product(session, source, record, now, stats, counted,
                                                   dated_prices)
        stats.products_stored.add(product.id)
        if product_changed:
            changed |= _films_showing(session, product.id)
        if _upsert_film_product(session, film_id, product.id, link, source):
            changed.add(film_id)
    if answered is None:
        return changed
    query = (select(Product).join(FilmProduct, FilmProduct.product_id == Product.id)
             .where(Product.source == source, FilmProduct.film_id == film_id,
                    Product.hidden == False))
    for product in session.exec(query):
        key = (product.merchant, product.merchant_id, product.region)
        if key not in answered and key not in counted:
            counted.add(key)
            _mark_missing(session, product, now, hide_after_misses)
            stats.products_missing += 1
            if product.hidden:
                changed |= _films_showing(session, product.id)
    return changed


def _films_showing(session: Session, product_id: int) -> set[int]:
    return set(session.exec(select(FilmProduct.film_id).where(FilmProduct.product_id == product_id)))


def _upsert_product(session: Session, source: str, record: ProductRecord, now: dt.datetime,
                    stats: ReconcileStats, counted: set[tuple],
                    dated_prices: bool) -> tuple[Product, bool]:
    """Products linked to several films are upserted with each; `counted` counts them once.
    Returns the product and whether a stored one now shows differently (a new one shows
    only through the link that is made next)."""
    first_time = _product_key(record) not in counted
    counted.add(_product_key(record))
    stats.products_seen += first_time
    product = session.exec(select(Product).where(
        Product.merchant == record.merchant, Product.merchant_id == record.merchant_id,
        Product.region == record.region)).first()
    values = {attr: getattr(record, attr) for attr in _PRODUCT_FIELDS}
    values["format"] = record.format.value if record.format else None
    values["facts"] = facts_to_json(record.facts) if record.facts else None
    # What the source did not say this time stays as stored; a new product needs something.
    if product is not None:
        values = {attr: value for attr, value in values.items()
                  if value is not None or attr not in ("title", "format", "facts")}
    else:
        values["title"] = values["title"] or record.merchant_id
        values["format"] = values["format"] or ProductFormat.MERCHANDISE.value
    values["availability"] = record.availability.value
    if product is not None and record.link_only:
        values = {"link": record.link, "price": None, "currency": None, "image_url": None}
    shows_differently = False
    if product is None:
        stats.products_added += 1
        product = Product(merchant=record.merchant, merchant_id=record.merchant_id,
                          region=record.region, source=source, first_seen=now, **values)
    else:
        edited = _apply(product, values) or product.hidden
        if (edited or product.source != source) and first_time:
            stats.products_changed += 1
        # A dated price shows when it was checked: checking it again changes the page.
        shows_differently = edited or (dated_prices and first_time and product.price is not None)
    product.source = source
    _mark_seen(session, product, now)
    session.flush()
    return product, shows_differently


def _upsert_film_product(session: Session, film_id: int, product_id: int, link: ProductLink,
                         source: str) -> bool:
    """Create the link, or let a curated source update its place; a guessing source never
    moves or re-approves a link that exists, and an operator's pin fixes the position.
    True if the film's widget changed: a link it shows appeared or moved."""
    row = session.exec(select(FilmProduct).where(
        FilmProduct.film_id == film_id, FilmProduct.product_id == product_id)).first()
    if row is None:
        row = FilmProduct(film_id=film_id, product_id=product_id, relation=link.relation.value,
                          position=link.position, source=source,
                          origin="curated" if link.curated else "discovered",
                          status="candidate" if link.candidate else "approved")
        changed = row.status == "approved"
    elif link.curated and not row.pinned:
        changed = _apply(row, {"position": link.position, "relation": link.relation.value})
        changed = changed and row.status == "approved" and not row.hidden
    else:
        changed = False
    session.add(row)
    return changed
