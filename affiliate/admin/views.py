"""The console's pages: providers, films, product curation, API tokens and the click report.

Each view checks its input, calls the function the CLI and the API call too, and renders
the result; a bad form is answered with a 4xx page naming what to fix, and changes nothing.
After a change the browser is redirected (POST, redirect, GET), so reloading repeats nothing.
"""
from __future__ import annotations

import datetime as dt
import math
from functools import wraps
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from affiliate import credentials, curation, review_queue, widgets
from affiliate.admin import auth, click_report, csrf, films, provider_status, sessions, throttle
from affiliate.admin.session_cookie import console_session
from affiliate.admin.state import PREFIX, admin_state
from affiliate.admin.work import is_not_found, summary
from affiliate.client_address import client_address
from affiliate.health import when
from affiliate.state import state, templates_folder
from affiliate.types import utcnow
from affiliate.webhooks import endpoints
from affiliate.webhooks.kinds import EVENT_KINDS
from providers.base import ProductFormat, Relation
from providers.regions import normalize_region

bp = Blueprint("affiliate_admin", __name__, template_folder=str(templates_folder()),
               static_folder="static", static_url_path="/static")

_PUBLIC = {"affiliate_admin.login", "affiliate_admin.static"}
_LINK_ACTIONS = {
    "approve": lambda db, ids: curation.set_status(db, ids, "approved"),
    "reject": lambda db, ids: curation.set_status(db, ids, "rejected"),
    "pin": lambda db, ids: curation.set_pinned(db, ids, True),
    "unpin": lambda db, ids: curation.set_pinned(db, ids, False),
    "hide": lambda db, ids: curation.set_hidden(db, ids, True),
    "show": lambda db, ids: curation.set_hidden(db, ids, False),
}
_MOVES = {"up": -1, "down": 1}
DB_INT_MAX = 2**31 - 1  # the largest id an INTEGER column holds; a larger one is a 404, not a 500


class BadInput(ValueError):
    """Form input the console cannot use; `_answers` turns it into a 400 with the reason."""


@bp.before_request
def _guard():
    """Set up, then CSRF-checked, then logged in: in this order for every console page."""
    if request.endpoint == "affiliate_admin.static":
        return None
    if not admin_state().console_enabled:
        return render_template("affiliate/admin/setup.html"), 503
    csrf.check()
    if request.endpoint not in _PUBLIC and auth.current_user(state().db) is None:
        return redirect(url_for("affiliate_admin.login", next=request.full_path.rstrip("?")), 303)
    return None


@bp.context_processor
def _globals():
    return {"csrf_token": csrf.token, "user": auth.current_user(state().db), "when": when,
            "money": _money}


def _money(amount, currency: str | None) -> str:
    """A stored price as the widgets write it ("$12.99"), in the service's default locale."""
    if not currency:
        return str(amount)
    return widgets.price_text(amount, currency, state().settings.service.default_locale)


@bp.errorhandler(csrf.CsrfRejected)
def _csrf_rejected(exc):
    return _problem(str(exc), 400)


@bp.errorhandler(HTTPException)
def _http_error(exc):
    return _problem(exc.description, exc.code)


def _problem(message: str, status: int):
    return render_template("affiliate/admin/problem.html", message=message, status=status), status


def _answers(view):
    """A view whose ValueError is the input's fault (400) and LookupError names a missing
    film, provider or link (404)."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except LookupError as exc:
            if not is_not_found(exc):
                raise
            return _problem(_message(exc), 404)
        except ValueError as exc:
            return _problem(_message(exc), 400)
    return wrapper


def _message(exc: Exception) -> str:
    return str(exc.args[0]) if exc.args else str(exc)


# --- login ----------------------------------------------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
def login():
    next_page = _local_page(request.values.get("next"))
    if request.method == "GET":
        return render_template("affiliate/admin/login.html", next=next_page)
    affiliate, now = state(), utcnow()
    username = request.form.get("username", "").strip()
    attempt = throttle.attempt(affiliate.settings.admin,
                               client_address(affiliate.settings.admin.proxy_hops), username)
    try:
        throttle.check(affiliate.db, attempt, now)
    except throttle.LockedOut as exc:
        return render_template(
            "affiliate/admin/login.html", next=next_page, username=username,
            error=f"Too many failed logins. {_try_again(exc)}"
        ), 429, {"Retry-After": str(exc.retry_after)}
    user = auth.authenticate(affiliate.db, username, request.form.get("password", ""))
    if user is None:
        throttle.failed(affiliate.db, attempt, now)
        return render_template("affiliate/admin/login.html", next=next_page,
                               error="Wrong username or password.", username=username), 401
    throttle.succeeded(affiliate.db, attempt)
    auth.log_in(affiliate.db, user)
    return redirect(next_page, 303)


@bp.post("/logout")
def logout():
    auth.log_out(state().db)
    flash("Logged out.")
    return redirect(url_for("affiliate_admin.login"), 303)


def _try_again(exc: throttle.LockedOut) -> str:
    minutes = math.ceil(exc.retry_after / 60)
    return f"Try again in {minutes} minute{'s' * (minutes != 1)}."


def _local_page(target: str | None) -> str:
    """Only a console path may follow a login, never another site."""
    default = url_for("affiliate_admin.providers")
    if not target:
        return default
    parts = urlsplit(target)
    inside = parts.path == PREFIX or parts.path.startswith(PREFIX + "/")
    if parts.scheme or parts.netloc or not inside or "\\" in target or target.startswith("//"):
        return default
    return target


# --- providers ------------------------------------------------------------------------------

@bp.get("/")
def index():
    return redirect(url_for("affiliate_admin.providers"))


@bp.get("/providers")
def providers():
    return render_template("affiliate/admin/providers.html",
                           providers=provider_status.all_providers(state().db, state().settings,
                                                       admin_state().refresher))


@bp.get("/providers/<name>")
@_answers
def provider(name: str):
    return render_template("affiliate/admin/provider.html",
                           provider=provider_status.one(state().db, state().settings,
                                                     admin_state().refresher, name))


@bp.post("/providers/<name>/credentials")
@_answers
def save_credentials(name: str):
    fields = credentials.fields(state().settings, name)
    values = {field.name: request.form.get(field.name, "") for field in fields}
    values = {key: value for key, value in values.items() if value.strip()}
    if not values:
        raise BadInput("fill in at least one field; empty fields keep what is stored")
    result = credentials.save(state().db, state().settings, name, values, verify=True)
    flash(("Saved. " if result.ok else "Saved, but the test failed: ") + result.message,
          "ok" if result.ok else "error")
    return redirect(url_for("affiliate_admin.provider", name=name), 303)


@bp.post("/providers/<name>/credentials/check")
@_answers
def check_credentials(name: str):
    result = credentials.check(state().db, state().settings, name)
    flash(("Connection works: " if result.ok else "Connection failed: ") + result.message,
          "ok" if result.ok else "error")
    return redirect(url_for("affiliate_admin.provider", name=name), 303)


@bp.post("/providers/<name>/credentials/delete")
@_answers
def delete_credentials(name: str):
    credentials.delete(state().db, state().settings, name)
    flash("Stored credentials deleted; the provider uses config.toml's, if any.", "ok")
    return redirect(url_for("affiliate_admin.provider", name=name), 303)


@bp.post("/providers/<name>/refresh")
@_answers
def refresh_provider(name: str):
    started, made_due = admin_state().refresher.provider(name)
    due = f" {made_due} films made due now." if made_due else ""
    flash((f"Refresh of {name} started in the background.{due}" if started
           else f"A refresh of {name} is already running.{due}"), "ok")
    return redirect(_back(url_for("affiliate_admin.providers")), 303)


# --- films ----------------------------------------------------------------------------------

@bp.get("/films")
def film_list():
    query = request.args.get("q", "")
    return render_template("affiliate/admin/films.html", query=query,
                           films=films.search_films(state().db, query))


@bp.post("/films")
@_answers
def add_film():
    row, created = films.add_film(state().db, request.form.get("film", ""))
    if not created:
        flash(f"{row.label} is in the catalog already.", "ok")
        return redirect(url_for("affiliate_admin.film", film=row.ref), 303)
    _refresh_and_flash(row.ref, f"Added {row.ref}.")
    return redirect(url_for("affiliate_admin.film", film=row.ref), 303)


@bp.get("/films/<film>")
@_answers
def film(film: str):
    settings = state().settings
    return render_template("affiliate/admin/film.html", detail=films.film_detail(state().db, film),
                           formats=[f.value for f in ProductFormat],
                           relations=[r.value for r in Relation],
                           default_region=settings.service.default_region)


@bp.post("/films/<film>/refresh")
@_answers
def refresh_film(film: str):
    _refresh_and_flash(film, "")
    return redirect(url_for("affiliate_admin.film", film=film), 303)


def _refresh_and_flash(film_ref: str, prefix: str) -> None:
    results = admin_state().refresher.film(film_ref)
    if not results:
        flash(f"{prefix} No enabled provider to refresh it from.".strip(), "error")
    for report in results:
        flash(f"{prefix} {summary(report)}".strip(),
              "error" if report.status in ("failed", "skipped", "quarantined") or report.warning
              else "ok")
        prefix = ""


@bp.post("/films/<film>/products")
@_answers
def link_product(film: str):
    form = request.form
    by = form.get("by", "")
    value = form.get("value", "").strip()
    if by not in ("asin", "gtin", "url") or not value:
        raise BadInput("choose ASIN, GTIN or URL and give its value")
    region = normalize_region(form.get("region") or state().settings.service.default_region)
    ref = curation.ProductRef(**{by: value}, title=form.get("title") or None,
                              format=form.get("format") or None)
    rows = curation.link_product(state().db, film, ref, region, form.get("relation", "edition"),
                                 state().settings)
    flash("Linked " + ", ".join(f"{row.title} ({row.merchant})" for row in rows) + ".", "ok")
    return redirect(url_for("affiliate_admin.film", film=film) + "#products", 303)


@bp.post("/films/<film>/products/<int:link_id>")
@_answers
def change_link(film: str, link_id: int):
    action = request.form.get("action", "")
    db = state().db
    if action not in _LINK_ACTIONS and action not in _MOVES:
        raise BadInput(f"unknown action {action!r}; use one of "
                       + ", ".join([*_LINK_ACTIONS, *_MOVES]))
    if link_id not in {row.id for row in curation.film_links(db, film)}:
        abort(404, f"film {film} has no product link {link_id}")
    if action in _MOVES:
        curation.move(db, film, link_id, _MOVES[action])
    else:
        _LINK_ACTIONS[action](db, [link_id])
    return redirect(url_for("affiliate_admin.film", film=film) + f"#link-{link_id}", 303)


# --- review ---------------------------------------------------------------------------------

@bp.get("/review")
@_answers
def review():
    chosen = review_queue.parse_filter(request.args)
    page = review_queue.listing(state().db, chosen)
    return render_template("affiliate/admin/review.html", page=page, chosen=chosen,
                           args=review_queue.filter_args(chosen),
                           merchants=review_queue.merchants(state().db, chosen.status),
                           relations=[r.value for r in Relation], statuses=curation.STATUSES)


@bp.post("/review")
@_answers
def decide_review():
    """Approve or reject the ticked links, or every link the filter chooses."""
    form = request.form
    decision = {"approve": "approved", "reject": "rejected"}.get(form.get("action", ""))
    if decision is None:
        raise BadInput("choose approve or reject")
    chosen = review_queue.parse_filter(form)
    if form.get("scope") == "matching":
        count = review_queue.decide_matching(state().db, chosen, decision)
    else:
        ids = _link_ids(form.getlist("link"))
        if not ids:
            raise BadInput("tick at least one link, or choose every link the filter shows")
        count = review_queue.decide(state().db, ids, decision)
    flash(f"{decision.capitalize()} {count} product link{'s' * (count != 1)}.", "ok")
    return redirect(url_for("affiliate_admin.review", **review_queue.filter_args(chosen)), 303)


def _link_ids(values: list[str]) -> list[int]:
    ids = []
    for value in values:
        if not value.isdigit() or len(value) > 18:
            raise BadInput(f"link: {value[:40]!r} is not a link id")
        ids.append(int(value))
    return ids


# --- webhooks -------------------------------------------------------------------------------

@bp.get("/webhooks")
def webhooks():
    return _webhooks_page()


@bp.post("/webhooks")
@_answers
def add_webhook():
    form = request.form
    hook, secret = endpoints.register(
        state().db, form.get("url", ""), form.getlist("events"),
        regions=_listed(form.get("regions")), platforms=_listed(form.get("platforms")),
        films=_listed(form.get("films")), description=form.get("description", ""),
        allow_local=state().settings.webhooks.allow_local_endpoints)
    # Shown in this response only: not flashed (that would put it in the session cookie).
    return _webhooks_page(created=hook, secret=secret), 201


def _webhooks_page(**shown):
    return render_template("affiliate/admin/webhooks.html", hooks=endpoints.listing(state().db),
                           kinds=EVENT_KINDS, allow_local=state().settings.webhooks.allow_local_endpoints,
                           **shown)


def _listed(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


@bp.get("/webhooks/<int:endpoint_id>")
@_answers
def webhook(endpoint_id: int):
    db = state().db
    return render_template("affiliate/admin/webhook.html", hook=endpoints.one(db, endpoint_id),
                           deliveries=endpoints.deliveries(db, endpoint_id))


@bp.post("/webhooks/<int:endpoint_id>/resume")
@_answers
def resume_webhook(endpoint_id: int):
    endpoints.resume(state().db, endpoint_id)
    flash(f"Webhook {endpoint_id} is active again; what waited is sent first.", "ok")
    return redirect(url_for("affiliate_admin.webhook", endpoint_id=endpoint_id), 303)


@bp.post("/webhooks/<int:endpoint_id>/remove")
@_answers
def remove_webhook(endpoint_id: int):
    endpoints.remove(state().db, endpoint_id)
    flash(f"Webhook {endpoint_id} removed.", "ok")
    return redirect(url_for("affiliate_admin.webhooks"), 303)


@bp.post("/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>")
@_answers
def send_again(endpoint_id: int, delivery_id: int):
    endpoints.send_again(state().db, endpoint_id, delivery_id)
    flash(f"Delivery {delivery_id} queued again; the scheduler sends it within "
          f"{state().settings.webhooks.interval_seconds} s.", "ok")
    return redirect(url_for("affiliate_admin.webhook", endpoint_id=endpoint_id) + f"#delivery-{delivery_id}", 303)


# --- tokens ---------------------------------------------------------------------------------

@bp.get("/tokens")
def tokens():
    return render_template("affiliate/admin/tokens.html", tokens=auth.list_tokens(state().db))


@bp.post("/tokens")
@_answers
def create_token():
    token, secret = auth.create_token(state().db, request.form.get("name", ""))
    # Shown in this response only: not flashed (that would put it in the session cookie).
    return render_template("affiliate/admin/tokens.html", tokens=auth.list_tokens(state().db),
                           created=token, secret=secret), 201


@bp.post(f"/tokens/<int(max={DB_INT_MAX}):token_id>/revoke")
@_answers
def revoke_token(token_id: int):
    token = auth.revoke_token(state().db, token_id)
    flash(f"Token {token.name!r} revoked.", "ok")
    return redirect(url_for("affiliate_admin.tokens"), 303)


# --- sessions -------------------------------------------------------------------------------

@bp.get("/sessions")
def session_list():
    affiliate, user = state(), auth.current_user(state().db)
    rows = sessions.live(affiliate.db, sessions.clock(),
                         sessions.Lifetimes.of(affiliate.settings.admin), user.id)
    return render_template("affiliate/admin/sessions.html", sessions=[row for _, row in rows],
                           current=sessions.digest(console_session().ensure_id()),
                           hours=affiliate.settings.admin.session_hours,
                           idle_minutes=affiliate.settings.admin.session_idle_minutes)


@bp.post(f"/sessions/<int(max={DB_INT_MAX}):row_id>/end")
def end_session(row_id: int):
    user = auth.current_user(state().db)
    if not sessions.end_one(state().db, user.id, row_id):
        abort(404, f"you have no session {row_id}; it may have ended already")
    flash("Session ended.", "ok")
    return redirect(url_for("affiliate_admin.session_list"), 303)


@bp.post("/sessions/end-all")
def end_all_sessions():
    """Sign out everywhere: every session of this operator ends, this one too."""
    db = state().db
    count = sessions.end_all(db, auth.current_user(db).id)
    auth.log_out(db)
    flash(f"Signed out everywhere ({count} session{'s' * (count != 1)} ended).")
    return redirect(url_for("affiliate_admin.login"), 303)


# --- password -------------------------------------------------------------------------------

@bp.route("/password", methods=["GET", "POST"])
def change_password():
    """The operator's own password. The current one is asked again and its failures count
    toward the login limit, so a session left open cannot be used to guess it. A change ends
    every session of the operator (a copied cookie too) and starts a new one here."""
    affiliate, now = state(), utcnow()
    user = auth.current_user(affiliate.db)
    if request.method == "GET":
        return _password_page()
    current, new = request.form.get("current_password", ""), request.form.get("new_password", "")
    try:
        auth.check_new_password(current, new, request.form.get("repeated_password", ""))
    except ValueError as exc:
        return _password_page(f"{_message(exc).capitalize()}. Nothing was changed.", 400)
    attempt = throttle.attempt(affiliate.settings.admin,
                               client_address(affiliate.settings.admin.proxy_hops), user.username)
    try:
        throttle.check(affiliate.db, attempt, now)
    except throttle.LockedOut as exc:
        return _password_page(f"Too many wrong passwords. {_try_again(exc)}", 429,
                              {"Retry-After": str(exc.retry_after)})
    if not auth.password_is(affiliate.db, user.id, current):
        throttle.failed(affiliate.db, attempt, now)
        return _password_page("The current password is wrong. Nothing was changed.", 400)
    throttle.succeeded(affiliate.db, attempt)
    auth.set_password(affiliate.db, user.username, new)
    auth.log_in(affiliate.db, user)
    flash("Password changed. Every other session of yours has ended.", "ok")
    return redirect(url_for("affiliate_admin.session_list"), 303)


def _password_page(error: str | None = None, status: int = 200, headers: dict | None = None):
    return render_template("affiliate/admin/password.html", error=error,
                           min_length=auth.MIN_PASSWORD_LENGTH), status, headers or {}


# --- clicks ---------------------------------------------------------------------------------

@bp.get("/clicks")
@_answers
def clicks():
    since, until = click_report.period(request.args.get("since"), request.args.get("until"),
                                  dt.datetime.now(dt.UTC).date())
    return render_template("affiliate/admin/clicks.html",
                           report=click_report.build(state().db, since, until))


def _back(default: str) -> str:
    """Where a form asked to go next, if it is a console page."""
    target = request.form.get("back")
    return _local_page(target) if target else default
