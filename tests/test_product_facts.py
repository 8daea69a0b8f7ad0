"""Facts read from raw Amazon items and iTunes albums, shaped as the sources document them."""
from __future__ import annotations


from providers.base import Person, ProductFormat
from providers.product_facts import (
    amazon_item_facts,
    itunes_album_facts,
    listed_contents,
)
from tests.recorded import recorded_json



def item(title="Psycho [Blu-ray]", binding="Blu-ray", contributors=(), **info):
    """An item as searchItems returns it with the byLineInfo, contentInfo and productInfo
    resources asked for."""
    item_info = {"title": {"displayValue": title, "label": "Title", "locale": "en_US"}, **info}
    if binding:
        item_info["classifications"] = {
            "binding": {"displayValue": binding, "label": "Binding", "locale": "en_US"},
            "productGroup": {"displayValue": "DVD", "label": "ProductGroup", "locale": "en_US"}}
    if contributors:
        item_info["byLineInfo"] = {"contributors": [
            {"locale": "en_US", "name": name, "role": role.title(), "roleType": role}
            for name, role in contributors]}
    return {"asin": "B003L77G4Y", "detailPageURL": "https://www.amazon.com/dp/B003L77G4Y",
            "itemInfo": item_info}


def date(value, label):
    return {"displayValue": value, "label": label, "locale": "en_US"}


def test_an_edition_gives_its_cast_director_binding_and_release_year():
    facts = amazon_item_facts(item(
        contributors=[("Anthony Perkins", "actor"), ("Alfred Hitchcock", "director")],
        productInfo={"releaseDate": date("2010-10-19T00:00:00.000Z", "ReleaseDate")}))

    assert facts.title == "Psycho [Blu-ray]"
    assert facts.people == (Person("Anthony Perkins", "actor"), Person("Alfred Hitchcock", "director"))
    assert (facts.year, facts.binding, facts.format, facts.category) == (
        2010, "Blu-ray", ProductFormat.BLU_RAY, "DVD")


def test_the_locale_free_role_type_wins_over_the_localized_role():
    raw = item()
    raw["itemInfo"]["byLineInfo"] = {"contributors": [
        {"locale": "de_DE", "name": "Daniel Radcliffe", "role": "Darsteller", "roleType": "actor"},
        {"locale": "en_US", "name": "Someone", "role": "Producer"}]}

    assert amazon_item_facts(raw).people == (Person("Daniel Radcliffe", "actor"),
                                             Person("Someone", "producer"))


def test_book_authors_written_last_name_first_are_turned_round():
    facts = amazon_item_facts(item(
        "Dune", "Mass Market Paperback",
        [("Herbert, Frank", "author"), ("Campbell Jr., John W.", "author"), ("Robert Downey, Jr.", "actor"),
         ("Crosby, Stills, Nash", "artist")],
        contentInfo={"publicationDate": date("1990-09-01T00:00:01Z", "PublicationDate")}))

    assert [person.name for person in facts.people] == [
        "Frank Herbert", "John W. Campbell Jr.", "Robert Downey, Jr.", "Crosby, Stills, Nash"]
    assert (facts.year, facts.format) == (1990, ProductFormat.BOOK)


def test_a_4k_disc_says_so_in_its_title_or_formats():
    in_formats = item("Dune", "Blu-ray", technicalInfo={"formats": {"displayValues": ["4K", "Widescreen"]}})

    assert amazon_item_facts(in_formats).format is ProductFormat.UHD_BLU_RAY
    assert amazon_item_facts(in_formats).formats == ("4K", "Widescreen")
    assert amazon_item_facts(item("Dune (4K Ultra HD + Blu-ray)")).format is ProductFormat.UHD_BLU_RAY


def test_a_missing_binding_leaves_the_format_unknown_and_other_bindings_are_merchandise():
    assert amazon_item_facts(item(binding=None)).format is None
    assert amazon_item_facts(item("Funko Pop! Up: Carl", "Toy")).format is ProductFormat.MERCHANDISE


def test_various_artists_marks_a_compilation_and_credits_nobody():
    facts = amazon_item_facts(item("Heat: Music From The Motion Picture", "Audio CD",
                                   [("Various Artists", "artist")]))

    assert (facts.compilation, facts.people, facts.format) == (True, (), ProductFormat.SOUNDTRACK_CD)


def test_fields_of_the_wrong_kind_read_as_absent():
    raw = item(contributors=[("X", "actor")])
    raw["itemInfo"]["byLineInfo"]["contributors"].append("not an object")
    raw["itemInfo"]["productInfo"] = {"releaseDate": {"displayValue": 2010}}
    raw["itemInfo"]["technicalInfo"] = {"formats": {"displayValues": "4K"}}

    facts = amazon_item_facts(raw)

    assert (facts.people, facts.year, facts.formats) == ((Person("X", "actor"),), None, ())
    assert amazon_item_facts({"asin": "B000000000"}).title == ""


def test_the_recorded_search_answers_are_read():
    answer = recorded_json("amazon/search_movies.json")
    facts = [amazon_item_facts(entry) for entry in answer["searchResult"]["items"]]

    assert facts[0].format is ProductFormat.UHD_BLU_RAY
    assert facts[2].contents == ("Leaving Las Vegas", "Raising Arizona", "Moonstruck", "Adaptation",
                                 "The Weather Man")
    assert facts[4].title == "" and facts[4].format is None


def test_a_box_set_lists_its_films_in_brackets_or_as_its_title():
    assert listed_contents("Nicolas Cage Triple Feature (Con Air / Face/Off / Gone in 60 Seconds)") == (
        "Con Air", "Face/Off", "Gone in 60 Seconds")
    assert listed_contents("Scarface (1932) / Scarface (1983) [Blu-ray]") == (
        "Scarface (1932)", "Scarface (1983) [Blu-ray]")
    assert listed_contents("Frozen (Two-Disc Blu-ray / DVD + Digital Copy)") == ()
    assert listed_contents("Alien Anthology [Blu-ray]") == ()


def test_an_itunes_album_gives_its_artists_year_and_genre():
    answer = recorded_json("itunes/search_album_leaving_las_vegas.json")
    soundtrack, single, compilation = (itunes_album_facts(album) for album in answer["results"])

    assert (soundtrack.title, soundtrack.people, soundtrack.year, soundtrack.category, soundtrack.format) == (
        "Leaving Las Vegas (Original Motion Picture Soundtrack)", (Person("Mike Figgis", "artist"),), 1995,
        "Soundtrack", ProductFormat.DIGITAL_ALBUM)
    assert single.category == "Rock"
    assert (compilation.compilation, compilation.people) == (True, ())


def test_several_itunes_artists_in_one_name_are_each_a_person():
    facts = itunes_album_facts({"wrapperType": "collection", "collectionName": "Her (Original Score)",
                                "artistName": "Arcade Fire & Owen Pallett",
                                "releaseDate": "2021-03-19T07:00:00Z"})

    assert facts.people == (Person("Arcade Fire", "artist"), Person("Owen Pallett", "artist"))
