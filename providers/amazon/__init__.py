"""Amazon products through the Creators API (PA-API 5 was retired in May 2026): the `amazon`
provider.

What Amazon documents, confirmed against the Creators API pages (affiliate-program.amazon.com
/creatorsapi/docs/en-us: "Using cURL", "Common Request Headers and Parameters", "GetItems",
"SearchItems", "ItemInfo", "OffersV2", "Error Codes and Messages", "Processing of Errors",
"Migrating to Creators API from Product Advertising API") and against Amazon's own Python SDK
(`creatorsapi_python_sdk`, bundled in python-amazon-paapi 7.1.0):

- Auth is OAuth2 client credentials with a credential id, secret and version. Versions 2.1,
  2.2 and 2.3 (North America, Europe, Far East) get tokens from Cognito
  (`https://creatorsapi.auth.<us-east-1|eu-south-2|us-west-2>.amazoncognito.com/oauth2/token`,
  form-encoded, scope `creatorsapi/default`, the credentials in the body or as HTTP Basic);
  3.1, 3.2 and 3.3 from Login with Amazon (`https://api.amazon.com|.co.uk|.co.jp
  /auth/o2/token`, a JSON body with the credentials, scope `creatorsapi::default`). The answer
  is `{"access_token": ..., "expires_in": 3600, "token_type": "Bearer"}`; tokens "should be
  cached until they expire". A refused credential is an OAuth error (RFC 6749, not shown on
  Amazon's pages): `{"error": "invalid_client"}` with 400, or 401; both are read as such.
- Calls are `POST https://creatorsapi.amazon/catalog/v1/getItems` and `.../searchItems` with
  `Authorization: Bearer <token>, Version <version>` (2.x) or `Bearer <token>` (3.x),
  `x-marketplace: www.amazon.com` and a lowerCamelCase JSON body: `partnerTag`,
  `marketplace`, `resources`, and `itemIds` (at most 10; one call counts once) or a search
  (`searchIndex`, `title` or `keywords`, `itemCount` up to 10).
- getItems answers `{"itemsResult": {"items": [...]}, "errors": [...]}`; searchItems
  `{"searchResult": {"items": [...], "totalResultCount": n, "searchURL": ...}}`. An item has
  `asin`, `detailPageURL` (already tagged with the partner tag), `itemInfo.title.displayValue`,
  `itemInfo.classifications.binding.displayValue` ("Blu-ray", "DVD", "Audio CD", "Paperback"...),
  `itemInfo.externalIds.{eans,upcs,isbns}.displayValues` (`eans`, not `eaNs`),
  `itemInfo.technicalInfo.formats.displayValues` ("4K", "Box set"...),
  `images.primary.medium.url`, and `offersV2.listings[]` with
  `price.money.{amount, currency, displayAmount}` (amount a JSON number) and
  `availability.{type, message}`, type one of AVAILABLE_DATE, IN_STOCK, IN_STOCK_SCARCE,
  LEADTIME, OUT_OF_STOCK, PREORDER, UNAVAILABLE, UNKNOWN. Items come in any order.
- Partial failures are a 200 whose `errors[]` holds `{"code", "message"}` per failed ASIN
  (`ItemNotAccessible`: "The ItemId B01180YUXS is not accessible through the Creators API.",
  `InvalidParameterValue`); the ASIN is named only inside the message. When every ASIN of a
  call fails the answer is a 404 `ResourceNotFoundException` instead, and a search without
  results is a 404 too.
- Errors are `{"type", "message", "reason"?, "retryAfterSeconds"?}`: 401
  UnauthorizedException (reasons TokenExpired, InvalidToken...), 403 AccessDeniedException
  with reason `AssociateNotEligible` ("Your account does not currently meet the eligibility
  requirements": fewer than 10 qualified sales in the trailing 30 days; access returns by
  itself within days of new sales), 400 ValidationException (InvalidAssociate,
  InvalidPartnerTag, FieldValidationFailed...), 429 ThrottleException that "may include a
  retryAfterSeconds field", 500 InternalServerException.
- Associates rules: prices only from the API, shown with their "as of" time and not once older
  than 24 hours; images hot-linked from Amazon, never copied; the statement "As an Amazon
  Associate I earn from qualifying purchases" wherever the products are shown; links are the
  API's own `detailPageURL`, never hidden behind a redirect.

Not confirmed: the Creators API's own rates page was not found. It promises PA-API 5's
functionality, whose limits start at 1 request per second and 8640 per day and grow with
sales; those are the values used. The GetItems reference page once spells the envelope
`itemResults`; every other page and the SDK say `itemsResult`, which is what is read.

Why a small client instead of python-amazon-paapi 7.1.0: the library can be pointed at a stand-in
(`host=`, `auth_endpoint=`) and speaks both operations, but tried against one it
- drops the wait Amazon asks for: TooManyRequestsError carries neither `retryAfterSeconds` nor
  Retry-After, and by default it sleeps and retries inside the call (up to 30 s a try);
- reports a token endpoint that is down (503, timeout) as AuthenticationError, the same as
  refused credentials, so an outage would read as a credentials problem;
- lets a raw JSONDecodeError or pydantic ValidationError escape for a malformed 200, turns an
  unrelated JSON body into "no items found", and keeps prices as floats;
- gives up the whole `get_items` when one batch of ten is all unknown (a 404), dropping the
  batches already read, and names AssociateNotEligible only in a message text;
- sends its API calls through urllib3 directly, so the recorded answers cannot be replayed
  with `responses` the way every other adapter's are.
Working around that would mean reading its private exception causes. The API is two POSTs and
a token, so this module speaks it through `providers.http`, which already maps statuses,
timeouts and bodies to the errors refresh acts on.

Design:

- fetch() refreshes the Amazon products the catalog already links to the films: every ref
  with merchant "Amazon" in `region`, ten ASINs a call. Products keep the tie to their films
  as non-curated links; the catalog never moves an existing link for such a source, so the
  relation given (from the binding: disc → edition, music → soundtrack, book → source novel,
  a title saying collection or box set → collection, anything else → merchandise) only
  matters for a new link. An ASIN Amazon answers as no item it offers (ItemNotAccessible, an
  "invalid" ItemId, or the 404 of a batch of only such ASINs) is a definitive miss: its films
  stay covered and the product counts a miss (hidden after `catalog.hide_after_misses`). An
  ASIN it leaves out without a word, or answers with an entry of the wrong shape, is a Problem
  for each film holding it, and those films stay out of `covered`. An item without `itemInfo`
  (an offers-only answer) keeps its price, availability and link; its stored title and format
  stay.
- With `discover` on, a film this provider has not searched for before (and a title) gets
  three searches, one request each: editions by title in MoviesAndTV, the soundtrack by
  "<title> soundtrack" in Music, the novel by title in Books; and, with `cast_searches` above
  0 and the film's people known, box sets of its top-billed actors (`actor` with keywords
  "collection", PA-API 5's SearchItems parameters, which the Creators API keeps) and of its
  director ("<director> collection"), each person searched once per fetch. Once candidates
  are linked the film has Amazon products and is not searched again. The year is not sent:
  product titles rarely carry it. Every hit but Prime Video entries (streaming, not products)
  becomes a candidate with its facts (providers.product_facts: contributors, release date,
  binding, the films a set lists), which the service scores against the film and its
  namesakes (affiliate.matching): approved, rejected or left for review by the rules. A box
  set is then linked to every catalog film it names. The films searched are handed back
  (`ProviderResult.discovered`): each film is searched once, whatever another film's box
  set linked to it since.
- A 403 AssociateNotEligible switches to link-only mode (`self.link_only`): no more calls, and
  every ref comes back with a plain tagged link `https://<marketplace>/dp/<ASIN>?tag=<tag>`,
  no price and no image, plus one Problem saying why. Nothing is covered then. The next fetch
  tries the API again.
- Every getItems and searchItems call, a retry after a 401 included, first passes the
  provider's throttle (refresh's limiter shared by every process, else an in-process pacer at
  requests_per_second). Token requests do not: Amazon's request rate and daily quota count API
  operations, and a token is fetched about once an hour. The token is cached on the instance
  until 60 s before it expires; a 401 on a call drops it and retries once.
- 429 waits `retryAfterSeconds` from the body, else Retry-After. InvalidAssociate and
  InvalidPartnerTag are configuration the operator must fix: AuthFailed, like a refused token.
"""
from providers.amazon.provider import AmazonProvider
from providers.amazon.records import MERCHANT

__all__ = ["MERCHANT", "AmazonProvider"]
