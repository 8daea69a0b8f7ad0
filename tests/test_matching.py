"""Scoring one candidate product against a film: the decision, the score and the reasons an
operator reads, the signs of another work, the rules, and box sets linked to their films."""
from __future__ import annotations

import pytest

from affiliate.config import MatchingSettings
from affiliate.matching import Decision, FilmFacts, films_in_collection, relation_of, score_match
from providers.base import Person, ProductFacts, ProductFormat, Relation

RULES = MatchingSettings()


def people(**roles):
    return tuple(Person(name, role) for role, names in roles.items() for name in names)


PSYCHO = FilmFacts("Psycho", 1960, people=people(
    director=["Alfred Hitchcock"], actor=["Anthony Perkins", "Vera Miles", "Janet Leigh", "John Gavin"],
    composer=["Bernard Herrmann"], writer=["Joseph Stefano"], author=["Robert Bloch"]), ref="psycho-1960")
PSYCHO_1998 = FilmFacts("Psycho", 1998, people=people(
    director=["Gus Van Sant"], actor=["Vince Vaughn", "Anne Heche", "Julianne Moore"],
    composer=["Bernard Herrmann", "Danny Elfman"], writer=["Joseph Stefano"], author=["Robert Bloch"]),
    ref="psycho-1998")
HEAT = FilmFacts("Heat", 1995, people=people(
    director=["Michael Mann"], actor=["Al Pacino", "Robert De Niro", "Val Kilmer"],
    composer=["Elliot Goldenthal"], writer=["Michael Mann"]), ref="heat-1995")


def disc(title, *, actors=(), directors=(), year=2010, binding="Blu-ray", **more):
    product_format = {"Blu-ray": ProductFormat.BLU_RAY, "DVD": ProductFormat.DVD, None: None}[binding]
    return ProductFacts(title, people=people(actor=actors, director=directors), year=year, binding=binding,
                        format=product_format, **more)


def album(title, artists=(), year=1960, **more):
    return ProductFacts(title, people=people(artist=artists), year=year, format=ProductFormat.DIGITAL_ALBUM,
                        category="Soundtrack", **more)


def book(title, authors, year=2010):
    return ProductFacts(title, people=people(author=authors), year=year, binding="Paperback",
                        format=ProductFormat.BOOK)


def test_an_edition_whose_title_cast_and_director_agree_is_approved_with_its_reasons():
    match = score_match(PSYCHO, disc("Psycho (Collector's Edition) [Blu-ray]", actors=["Anthony Perkins",
                                     "Janet Leigh"], directors=["Alfred Hitchcock"]), RULES)

    assert (match.decision, match.relation, match.score) == (Decision.APPROVE, Relation.EDITION, 1.0)
    assert match.reasons == ("title matches 'Psycho' (100)", "format Blu-ray",
                             "director Alfred Hitchcock matches",
                             "actors Anthony Perkins, Janet Leigh in the film's cast")


def test_the_remake_is_told_apart_by_its_director_and_cast():
    remake = disc("Psycho", actors=["Vince Vaughn", "Anne Heche"], directors=["Gus Van Sant"], year=1999,
                  binding="DVD")
    match = score_match(PSYCHO, remake, RULES)

    assert match.decision is Decision.REJECT
    assert "director Gus Van Sant not the film's Alfred Hitchcock" in match.reasons
    assert "none of the actors (Vince Vaughn, Anne Heche) is in the film's cast" in match.reasons


def test_a_remake_by_the_same_director_is_told_apart_by_its_cast():
    film = FilmFacts("The Man Who Knew Too Much", 1956, people=people(
        director=["Alfred Hitchcock"], actor=["James Stewart", "Doris Day"]))
    version_of_1934 = disc("The Man Who Knew Too Much (The Criterion Collection)",
                           actors=["Leslie Banks", "Peter Lorre"], directors=["Alfred Hitchcock"])
    match = score_match(film, version_of_1934, RULES)

    assert match.decision is not Decision.APPROVE
    assert "director Alfred Hitchcock matches" in match.reasons


def test_a_year_in_the_title_that_is_not_the_films_holds_approval_back():
    match = score_match(PSYCHO, disc("Psycho (1998)", actors=["Anthony Perkins", "Vera Miles"],
                                     directors=["Alfred Hitchcock"]), RULES)

    assert match.decision is not Decision.APPROVE
    assert "year 1998 in the title, not the film's 1960" in match.reasons


def test_the_films_own_year_in_the_title_counts_for_it():
    match = score_match(PSYCHO, disc("Psycho (1960)", actors=["Anthony Perkins", "Vera Miles"]), RULES)

    assert "year 1960 in the title" in match.reasons and match.decision is Decision.APPROVE


@pytest.mark.parametrize("title, reason", [
    ("Psycho II", "sequel number 'ii' in the title"),
    ("Dune: Part Two", "sequel number 'part two' in the title"),
    ("Heat 2", "sequel number '2' in the title"),
    ("Psycho: The Complete Series", "'the complete series' in the title: another work"),
    ("Psycho: Season 1", "'season 1' in the title: another work"),
    ("Psycho (Remake)", "'remake' in the title: another work"),
])
def test_signs_of_another_work_hold_approval_back_even_when_the_people_match(title, reason):
    film = FilmFacts(title.split(" ")[0].rstrip(":"), 1960, people=PSYCHO.people)
    match = score_match(film, disc(title, actors=["Anthony Perkins", "Vera Miles"],
                                   directors=["Alfred Hitchcock"]), RULES)

    assert reason in match.reasons
    assert match.decision is not Decision.APPROVE


def test_another_number_tells_oceans_twelve_from_oceans_eleven():
    film = FilmFacts("Ocean's Eleven", 2001, people=people(director=["Steven Soderbergh"],
                                                           actor=["George Clooney", "Brad Pitt"]))
    twelve = score_match(film, disc("Ocean's Twelve", actors=["George Clooney", "Brad Pitt"],
                                    directors=["Steven Soderbergh"]), RULES)
    spelt = score_match(film, disc("Ocean's 11", actors=["George Clooney", "Brad Pitt"]), RULES)

    assert twelve.decision is not Decision.APPROVE
    assert "another number 'twelve' in the title" in twelve.reasons
    assert spelt.decision is Decision.APPROVE and spelt.reasons[0] == "title matches 'Ocean's Eleven' (100)"


def test_a_title_that_only_contains_the_films_is_not_a_match():
    match = score_match(HEAT, book("Heat: An Amateur's Adventures as Kitchen Slave", ["Bill Buford"]), RULES)

    assert match.decision is Decision.REJECT
    assert "author Bill Buford is not the film's writer or source author" in match.reasons


def test_a_product_without_a_title_is_never_approved():
    match = score_match(PSYCHO, disc("", actors=["Anthony Perkins", "Vera Miles", "Janet Leigh"],
                                     directors=["Alfred Hitchcock"]), RULES)

    assert match.reasons[0] == "no title"
    assert match.decision is not Decision.APPROVE


def test_a_product_without_a_binding_is_scored_on_what_it_has_but_never_approved():
    lenient = MatchingSettings(edition={"auto_approve": 0.5, "reject": 0.1})
    match = score_match(PSYCHO, disc("Psycho", actors=["Anthony Perkins", "Vera Miles", "Janet Leigh"],
                                     directors=["Alfred Hitchcock"], binding=None), lenient)

    assert "no binding: format unknown" in match.reasons
    assert match.score >= 0.5 and match.decision is Decision.REVIEW


def test_the_relation_comes_from_the_format_and_the_search_only_without_one():
    assert relation_of(album("Psycho")) is Relation.SOUNDTRACK
    assert relation_of(book("Psycho: A Novel", [])) is Relation.SOURCE_NOVEL
    assert relation_of(book("The Art of Up", [])) is Relation.MERCHANDISE
    assert relation_of(disc("Moonstruck (The Criterion Collection)")) is Relation.EDITION
    assert relation_of(disc("Speed (Five Star Collection)")) is Relation.EDITION
    assert relation_of(disc("Alien Anthology")) is Relation.COLLECTION
    assert relation_of(disc("Psycho", binding=None), Relation.SOURCE_NOVEL) is Relation.SOURCE_NOVEL


def test_a_soundtrack_by_the_films_composer_is_approved():
    score = album("Psycho (Original Motion Picture Soundtrack)", ["Bernard Herrmann"])
    match = score_match(PSYCHO, score, RULES)

    assert match.decision is Decision.APPROVE
    assert match.reasons[2:] == ("marked as a soundtrack", "album from 1960, with the film",
                                 "composer Bernard Herrmann matches")


def test_an_album_named_like_the_film_by_another_artist_is_rejected():
    film = FilmFacts("Up", 2009, people=people(composer=["Michael Giacchino"]))
    match = score_match(film, ProductFacts("Up", people=people(artist=["Peter Gabriel"]), year=2002,
                                           format=ProductFormat.DIGITAL_ALBUM, category="Rock"), RULES)

    assert match.decision is Decision.REJECT
    assert match.reasons[1:] == ("format digital-album", "not marked as a soundtrack",
                                 "released 2002, before the film (2009)",
                                 "artist Peter Gabriel is not the film's composer (Michael Giacchino)")


def test_a_compilation_out_with_the_film_is_approved_and_a_later_one_waits():
    title = "Heat (Music from the Motion Picture)"
    with_film = score_match(HEAT, album(title, year=1995, compilation=True), RULES)
    later = score_match(HEAT, album(title, year=2005, compilation=True), RULES)

    assert with_film.decision is Decision.APPROVE
    assert "compilation released with the film" in with_film.reasons
    assert later.decision is Decision.REVIEW


def test_the_source_novel_is_approved_for_the_film_and_its_remake():
    novel = book("Psycho: A Novel", ["Robert Bloch"])

    for film, other in ((PSYCHO, PSYCHO_1998), (PSYCHO_1998, PSYCHO)):
        match = score_match(film, novel, RULES, namesakes=[other])
        assert match.decision is Decision.APPROVE and "author Robert Bloch wrote the source" in match.reasons


def test_evidence_that_fits_a_same_titled_catalog_film_better_holds_approval_back():
    remake_score = album("Psycho (Original Motion Picture Soundtrack)", ["Bernard Herrmann", "Danny Elfman"],
                         year=1998)

    for_1960 = score_match(PSYCHO, remake_score, RULES, namesakes=[PSYCHO_1998])
    for_1998 = score_match(PSYCHO_1998, remake_score, RULES, namesakes=[PSYCHO])

    assert "fits Psycho (1998) better" in for_1960.reasons and for_1960.decision is not Decision.APPROVE
    assert for_1998.decision is Decision.APPROVE


def test_the_rules_turn_the_score_into_the_decision():
    product = disc("Psycho", directors=["Alfred Hitchcock"])
    strict = MatchingSettings(edition={"auto_approve": 0.99, "reject": 0.8})
    lenient = MatchingSettings(edition={"auto_approve": 0.7, "reject": 0.2})

    assert score_match(PSYCHO, product, RULES).decision is Decision.REVIEW
    assert score_match(PSYCHO, product, strict).decision is Decision.REJECT
    assert score_match(PSYCHO, product, lenient).decision is Decision.APPROVE


CAGE_FILMS = [
    FilmFacts("Leaving Las Vegas", 1995, people=people(actor=["Nicolas Cage", "Elisabeth Shue"]), ref="451"),
    FilmFacts("Raising Arizona", 1987, people=people(actor=["Nicolas Cage", "Holly Hunter"]), ref="378"),
    FilmFacts("Moonstruck", 1987, people=people(actor=["Cher", "Nicolas Cage"]), ref="2039"),
    FilmFacts("Adaptation.", 2002, people=people(actor=["Nicolas Cage", "Meryl Streep"]), ref="2757"),
    FilmFacts("The Weather Man", 2005, people=people(actor=["Nicolas Cage", "Michael Caine"]), ref="9882"),
    FilmFacts("Con Air", 1997, people=people(actor=["Nicolas Cage", "John Cusack"]), ref="1701"),
    PSYCHO, PSYCHO_1998,
]
CAGE_SET = disc("Nicolas Cage: 5-Film Collection (Leaving Las Vegas / Raising Arizona / Moonstruck / "
                "Adaptation / The Weather Man)", actors=["Nicolas Cage", "Meryl Streep", "Cher"],
                binding="DVD", contents=("Leaving Las Vegas", "Raising Arizona", "Moonstruck", "Adaptation",
                                         "The Weather Man"))


def test_a_box_set_is_linked_to_every_catalog_film_it_lists():
    found = films_in_collection(CAGE_SET, CAGE_FILMS, RULES)

    assert sorted(film.ref for film, _ in found) == ["2039", "2757", "378", "451", "9882"]
    assert {(match.decision, match.relation) for _, match in found} == {
        (Decision.APPROVE, Relation.COLLECTION)}
    adaptation = next(match for film, match in found if film.ref == "2757")
    assert adaptation.reasons == ("lists 'Adaptation'", "format DVD",
                                  "Nicolas Cage, Meryl Streep in the film's credits")


def test_a_box_set_links_the_listed_film_its_people_worked_on_not_its_remake():
    hitchcock = disc("Alfred Hitchcock: The Essentials Collection (Rear Window / Vertigo / Psycho / "
                     "The Birds)",
                     actors=["James Stewart", "Anthony Perkins"], directors=["Alfred Hitchcock"],
                     contents=("Rear Window", "Vertigo", "Psycho", "The Birds"))

    found = films_in_collection(hitchcock, CAGE_FILMS, RULES)

    assert [(film.ref, match.decision) for film, match in found] == [("psycho-1960", Decision.APPROVE)]


def test_a_box_set_that_lists_no_films_waits_for_review_and_other_products_link_nothing():
    unlisted = disc("Psycho Anthology", actors=["Anthony Perkins"])

    found = films_in_collection(unlisted, [PSYCHO], RULES)

    assert [match.decision for _, match in found] == [Decision.REVIEW]
    assert "title names 'Psycho' but lists no contents" in found[0][1].reasons
    assert films_in_collection(disc("Leaving Las Vegas", actors=["Nicolas Cage"]), CAGE_FILMS, RULES) == []
