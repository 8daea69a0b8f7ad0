"""Region and locale negotiation: parameters, then a trusted country header, then
Accept-Language, then the defaults; and the Vary header that tells caches what was consulted."""
from __future__ import annotations

import pytest
from flask import Flask, render_template_string

from affiliate import Affiliate
from affiliate.i18n import available_locales
from affiliate.negotiation import BadParameter, Preferences, negotiate

LLV = "imdb:tt0113627"
ANYWHERE = Preferences("US", "en_US", ("en", "es", "fr"), "CF-IPCountry")
UNTRUSTED = Preferences("US", "en_US", ("en", "es", "fr"))


@pytest.mark.parametrize("headers, region, locale", [
    ({}, "US", "en_US"),
    ({"Accept-Language": "en-GB,en;q=0.9"}, "GB", "en_GB"),
    ({"Accept-Language": "de, de-AT;q=0.9, en;q=0.5"}, "AT", "en"),
    ({"Accept-Language": "es-419"}, "US", "es_419"),  # a region of the world, not a country
    ({"Accept-Language": "da, en-US;q=0.5"}, "US", "en_US"),  # Danish names no country
    ({"Accept-Language": "fr-CA, es;q=0.5"}, "CA", "fr_CA"),
    ({"Accept-Language": "pt-BR, es;q=0.8"}, "BR", "es"),  # no Portuguese text: Spanish next
    ({"Accept-Language": "x-klingon, *;q=0.1"}, "US", "en_US"),
    ({"Accept-Language": "es;q=0, fr;q=0.4"}, "US", "fr"),  # q=0 means "not this"
    ({"CF-IPCountry": "de", "Accept-Language": "en-GB"}, "DE", "en_GB"),
    ({"CF-IPCountry": "XX", "Accept-Language": "en-GB"}, "GB", "en_GB"),  # unknown country
    ({"CF-IPCountry": "T1"}, "US", "en_US"),  # Cloudflare's Tor marker
])
def test_headers_decide_what_the_parameters_leave_open(headers, region, locale):
    negotiated = negotiate(None, None, headers, ANYWHERE)
    assert (negotiated.region, negotiated.locale) == (region, locale)


def test_parameters_win_and_then_no_header_matters():
    headers = {"CF-IPCountry": "DE", "Accept-Language": "fr-FR"}
    negotiated = negotiate("gb", "de-AT", headers, ANYWHERE)
    assert (negotiated.region, negotiated.locale, negotiated.vary) == ("GB", "de_AT", ())
    # An empty parameter (a form's blank choice) counts as absent.
    negotiated = negotiate("", "", headers, ANYWHERE)
    assert (negotiated.region, negotiated.locale) == ("DE", "fr_FR")


def test_a_country_header_is_only_trusted_when_configured():
    assert negotiate(None, None, {"CF-IPCountry": "DE"}, UNTRUSTED).region == "US"


def test_vary_names_every_header_that_was_consulted():
    assert negotiate(None, None, {}, ANYWHERE).vary == ("CF-IPCountry", "Accept-Language")
    assert negotiate(None, None, {}, UNTRUSTED).vary == ("Accept-Language",)
    assert negotiate("GB", None, {}, ANYWHERE).vary == ("Accept-Language",)
    assert negotiate(None, "en_GB", {}, ANYWHERE).vary == ("CF-IPCountry", "Accept-Language")


def test_the_default_locale_counts_as_spoken():
    german_site = Preferences("DE", "de_DE", ("en",))
    assert negotiate(None, None, {"Accept-Language": "de-CH"}, german_site).locale == "de_CH"
    assert negotiate(None, None, {"Accept-Language": "it"}, german_site).locale == "de_DE"


@pytest.mark.parametrize("region, locale, error", [
    ("USA", None, "region: 'USA' is not an ISO 3166-1 alpha-2 country code such as US or GB"),
    (None, "klingon", "locale: 'klingon' is not a locale such as en_US or de_DE"),
])
def test_malformed_parameters_are_refused_by_name(region, locale, error):
    with pytest.raises(BadParameter) as raised:
        negotiate(region, locale, {}, ANYWHERE)
    assert str(raised.value) == error


# --- Through HTTP ----------------------------------------------------------------------------

def test_widgets_follow_accept_language_and_say_so_in_vary(client, demo):
    response = client.get(f"/widgets/how-to-watch/{LLV}",
                          headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert response.status_code == 200
    assert "£3.49" in response.text and "$" not in response.text
    assert response.headers["Vary"] == "Accept-Language"


def test_the_widget_speaks_the_visitors_language_when_it_has_a_catalog(client, demo):
    assert "es" in available_locales()
    html = client.get(f"/widgets/how-to-watch/{LLV}?region=US",
                      headers={"Accept-Language": "es-MX, en;q=0.5"}).text
    assert 'lang="es"' in html and "USD3.99" in html  # Spanish text, Mexican formats
    html = client.get(f"/widgets/how-to-watch/{LLV}?region=US",
                      headers={"Accept-Language": "it-IT, en-GB;q=0.5"}).text
    assert 'lang="en"' in html and "US$3.99" in html  # no Italian: British English next


def test_explicit_parameters_need_no_vary(client, demo):
    response = client.get(f"/widgets/how-to-watch/{LLV}?region=US&locale=en_US",
                          headers={"Accept-Language": "en-GB"})
    assert "$3.99" in response.text and "Vary" not in response.headers
    api = client.get(f"/api/v1/films/{LLV}/offers?region=US",
                     headers={"Accept-Language": "en-GB"})
    assert api.headers["Vary"] == "Accept-Language"
    assert api.json["region"] == "US" and "US$3.99" in api.text  # British English formats


def test_a_configured_country_header_picks_the_region(make_settings, demo):
    from affiliate import create_app

    app = create_app(make_settings(http={"country_header": "X-Country-Code"}))
    try:
        client = app.test_client()
        response = client.get(f"/api/v1/films/{LLV}/offers",
                              headers={"X-Country-Code": "GB", "Accept-Language": "en-US"})
        assert response.json["region"] == "GB"
        assert response.json["groups"][0]["platforms"][0]["offers"][0]["currency"] == "GBP"
        assert response.headers["Vary"] == "X-Country-Code, Accept-Language"
        # Without the header, Accept-Language's country is next.
        assert client.get(f"/api/v1/films/{LLV}/offers",
                          headers={"Accept-Language": "en-GB"}).json["region"] == "GB"
    finally:
        app.extensions["affiliate"].db.dispose()


def test_a_bad_parameter_is_still_a_400_whatever_the_headers(client, demo):
    response = client.get(f"/widgets/how-to-watch/{LLV}?region=Narnia",
                          headers={"Accept-Language": "en-GB"})
    assert response.status_code == 400
    assert "region: &#39;Narnia&#39;" in response.text


def test_the_demo_page_negotiates_too(client, demo):
    response = client.get("/", headers={"Accept-Language": "en-GB"})
    assert "£3.49" in response.text and response.headers["Vary"] == "Accept-Language"


def test_a_host_page_negotiates_from_its_own_request(demo, settings):
    host = Flask("film_site")
    Affiliate(host, settings)

    @host.get("/films/<ref>")
    def film_page(ref):
        return render_template_string("<main>{{ render_how_to_watch(ref) }}</main>", ref=ref)

    try:
        response = host.test_client().get(f"/films/{LLV}", headers={"Accept-Language": "en-GB"})
        assert "£3.49" in response.text and response.headers["Vary"] == "Accept-Language"
    finally:
        host.extensions["affiliate"].db.dispose()
