"""`palvelupiste central web`: the development teams' monthly reports and the technicians' fleet
view, server-rendered (Starlette, Jinja2; pages work without JavaScript), in Finnish, Swedish
and English.

Every page and download checks the user's role on the server (central/accounts.py: User.sees_*).
Forms carry a CSRF token: the session's own once logged in, and before that (the login form) a
random one in a cookie of its own that the form must repeat. Cookies are HttpOnly, SameSite=Strict
and Secure (browsers keep Secure cookies of http://localhost and 127.0.0.1 too). Responses say
`Content-Security-Policy: default-src 'self'` with no script at all, `X-Frame-Options: DENY`,
and no-store for everything behind the login.
"""
from __future__ import annotations

import contextlib
import csv
import hmac
import io
import logging
import math
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
import psycopg
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from central import accounts, charts
from central.figcache import FigureCache
from central.follow import FollowBoard, FollowLink
from central.publish import DownwireError, PublishError, publish_config_text
from central.store import CentralStore
from central.views import GROUPS
from core.config import Broker, ConfigError, loads_site
from core.downwire import MAX_CONFIG_BYTES
from core.i18n import Translator, native_name, translator
from core.national import AUTHORITIES, REGIONS
from core.tomllines import line_of

from . import report as R
from .follow import FollowPages
from .push import PushFeeds

log = logging.getLogger("palvelupiste.web")
HERE = Path(__file__).resolve().parent
LANGS = ("fi", "sv", "en")
DOMAIN = "web"
SESSION_COOKIE, CSRF_COOKIE, LANG_COOKIE = "pp_session", "pp_csrf", "pp_lang"
#: the figure column → its small-cell group (central/views.py GROUPS), to tell "withheld" from "no data"
GROUP_OF = {c: g for g, (_, cols) in GROUPS.items() for c in cols}
GROUP_OF["response_rate"] = "satisfaction"
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
                               "form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
}


#: how old a report may be while its month's data keep arriving (central/figcache.py)
REPORT_MAX_STALE_S = 60.0


class Forbidden(Exception):
    pass


class NotFound(Exception):
    pass


class Connections:
    """One database connection per worker thread (Starlette runs sync endpoints in a thread pool)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._local = threading.local()

    def get(self) -> psycopg.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = self._local.conn = psycopg.connect(self.dsn, autocommit=True)
        return conn


def _lang(request: Request) -> str:
    asked = request.query_params.get("lang")
    if asked in LANGS:
        return asked
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in LANGS:
        return cookie
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGS:
            return code
    return "fi"


class Page:
    """What every request needs: its language, the user and the CSRF token."""

    def __init__(self, web: "Web", request: Request) -> None:
        self.web, self.request = web, request
        self.lang = _lang(request)
        self.t: Translator = translator(self.lang, DOMAIN)
        self.conn = web.db.get()
        got = accounts.session(self.conn, request.cookies.get(SESSION_COOKIE))
        self.user: accounts.User | None = got[0] if got else None
        self.csrf: str = got[1] if got else (request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24))

    def render(self, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        html = self.web.env.get_template(template).render(page=self, _=self.t.gettext, t=self.t, **ctx)
        resp = HTMLResponse(html, status_code=status, headers=HEADERS)
        self.finish(resp)
        return resp

    def finish(self, resp: Response) -> None:
        if self.request.query_params.get("lang") in LANGS:
            resp.set_cookie(LANG_COOKIE, self.lang, max_age=365 * 86400, httponly=True, samesite="strict",
                            secure=self.web.secure)
        if self.user is None and self.request.cookies.get(CSRF_COOKIE) != self.csrf:
            resp.set_cookie(CSRF_COOKIE, self.csrf, httponly=True, samesite="strict", secure=self.web.secure)
        if self.user is not None:
            resp.headers["Cache-Control"] = "no-store"

    def url(self, path: str, **query: str | None) -> str:
        q = "&".join(f"{k}={quote(v)}" for k, v in query.items() if v)
        return path + ("?" + q if q else "")

    def lang_url(self, lang: str) -> str:
        params = dict(self.request.query_params)
        params["lang"] = lang
        return self.url(self.request.url.path, **params)

    # --- formatting ---------------------------------------------------------------------------

    def fmt(self, row: dict[str, Any] | None, column: str, kind: str = "count") -> str:
        """A figure as the page shows it: withheld (small cell), no data, or the number."""
        value = None if row is None else row.get(column)
        if value is None:
            return self.t.gettext("withheld") if self.held(row, column) else "–"
        return self.number(value, kind)

    def number(self, value: float, kind: str = "count") -> str:
        from babel import numbers

        loc = self.t.locale
        if kind == "share":
            return numbers.format_percent(value, locale=loc)
        if kind in ("min", "rate"):
            return numbers.format_decimal(value, format="#,##0.0", locale=loc)
        if kind == "mean5":
            return numbers.format_decimal(value, format="#,##0.00", locale=loc)
        return numbers.format_decimal(value, locale=loc)

    def scope_name(self, scope: str, key: str | None) -> str:
        if scope in ("authority", "service") and key == "":
            return self.t.gettext("Not about one service")
        if scope == "nation":
            return self.t.gettext("Whole country")
        if scope == "region" and key in REGIONS:
            return REGIONS[key].get(self.lang, REGIONS[key]["en"])
        if scope == "authority" and key in AUTHORITIES:
            return AUTHORITIES[key].get(self.lang, AUTHORITIES[key]["en"])
        return key or "–"

    def native(self, lang: str) -> str:
        return native_name(lang)

    def ago(self, ms: int | None, now: int) -> str:
        """How long ago, in words of the page's language ("3 hours")."""
        import datetime as _dt

        from babel.dates import format_timedelta

        if ms is None:
            return "–"
        return format_timedelta(_dt.timedelta(milliseconds=now - ms), threshold=1.1, locale=self.t.locale)

    def when(self, ms: int | None) -> str:
        return "–" if ms is None else self.t.format_datetime(ms)

    def size(self, n: int | None) -> str:
        from babel.numbers import format_decimal

        return "–" if n is None else format_decimal(round(n / 1e9, 1), locale=self.t.locale) + " GB"

    def alert_text(self, kind: str) -> str:
        t = self.t.gettext
        return {"offline": t("offline for more than 10 minutes in opening hours"),
                "paper_near_end": t("paper near its end"), "paper_out": t("paper out"),
                "backlog": t("backlog growing"), "clock": t("clock off by more than a minute"),
                "certificate": t("the central broker's certificate expires within 30 days"),
                "booking_feed": t("booking feed failing for an hour in opening hours")}.get(kind, kind)

    # --- charts (central/charts.py), each beside a table of the same numbers -----------------

    def _chart_text(self) -> dict[str, Any]:
        return {"withheld_text": self.t.gettext("withheld"), "no_data_text": self.t.gettext("no data"),
                "desc": self.t.gettext("The numbers are in the table below the chart.")}

    def held(self, row: dict[str, Any] | None, column: str) -> bool:
        """Whether the figure is withheld by the small-cell rule (not merely missing)."""
        if row is None or row.get(column) is not None:
            return False
        held = row.get("withheld") or ()
        return GROUP_OF.get(column) in held or (column == "response_rate" and "service" in held)

    def value(self, row: dict[str, Any] | None, column: str) -> float | None:
        """A figure for a chart: None when withheld, NaN when there is none (no data)."""
        if self.held(row, column):
            return None
        v = None if row is None else row.get(column)
        return math.nan if v is None else float(v)

    def bars(self, title: str, data: list[dict[str, Any]], previous: list[dict[str, Any]], keycol: str,
             column: str, kind: str, *, this: str, other: str | None, chart_id: str) -> Markup:
        labels = [self.scope_name(keycol, r[keycol]) for r in data]
        before = {r[keycol]: r for r in previous}
        series = [(this, [self.value(r, column) for r in data])]
        if other is not None:
            series.append((other, [self.value(before.get(r[keycol]), column) for r in data]))
        return Markup(charts.bars(title, labels, series, fmt=lambda v: self.number(v, kind),
                                  id_prefix=chart_id, **self._chart_text()))

    def trend_chart(self, title: str, trend: list[dict[str, Any]], columns: list[tuple[str, str]], kind: str,
                    chart_id: str) -> Markup:
        series = [(self.t.gettext(label), [self.value(r, col) for r in trend]) for col, label in columns]
        return Markup(charts.line(title, [r["month"][2:] for r in trend], series,
                                  fmt=lambda v: self.number(v, kind), id_prefix=chart_id, **self._chart_text()))

    def weekdays(self) -> list[str]:
        from babel.dates import get_day_names

        names = get_day_names("abbreviated", locale=self.t.locale)
        return [names[i] for i in range(7)]

    def heat_hours(self, heat: dict[tuple[int, int], Any]) -> list[int]:
        hours = sorted({h for (_d, h) in heat})
        return list(range(hours[0], hours[-1] + 1)) if hours else []

    def heat_chart(self, title: str, heat: dict[tuple[int, int], tuple[Any, Any]], which: int, kind: str,
                   chart_id: str) -> Markup:
        hours = self.heat_hours(heat)
        # No ticket at all in an hour: 0 tickets, and no wait (NaN: "no data", not withheld).
        values = [[heat[(d, h)][which] if (d, h) in heat else 0.0 if which == 0 else math.nan
                   for h in hours] for d in range(1, 8)]
        return Markup(charts.heatmap(title, self.weekdays(), [f"{h:02d}" for h in hours], values,
                                     fmt=lambda v: self.number(v, kind), id_prefix=chart_id, **self._chart_text()))


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class Web:
    def __init__(self, dsn: str, *, secure: bool = True, broker: Broker | None = None,
                 follow: FollowLink | None = None, push: "PushFeeds | None" = None) -> None:
        CentralStore(dsn).close()  # the schema and views are made before the first request
        self.push = push  # booking lists pushed by the authorities (central/web/push.py)
        self.db = Connections(dsn)
        self.secure = secure
        self.broker = broker  # where site configurations are published (None: validation only)
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")),
                                      autoescape=True, trim_blocks=True, lstrip_blocks=True)
        self.env.globals["LANGS"] = LANGS
        self.env.globals["FIGURES"] = R.FIGURES
        self.env.globals["BREAKDOWN"] = R.BREAKDOWN
        # Reports reused while their figures cannot have changed, or, while the data keep
        # changing, for at most a minute (central/figcache.py)
        self.figures = FigureCache(max_stale_s=REPORT_MAX_STALE_S)
        # The phone pages behind the tickets' QR codes: public, fed by the follow link (without
        # one every ticket's page says "not found").
        self.follow_link = follow
        self.phone = FollowPages(self.env, self.db, follow.board if follow else FollowBoard(), follow)

    # --- plumbing -----------------------------------------------------------------------------

    def guarded(self, fn: Callable[[Page], Response], *, login: bool = True) -> Callable[[Request], Response]:
        def endpoint(request: Request) -> Response:
            page = Page(self, request)
            if login and page.user is None:
                nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(page.url("/login", next=nxt), status_code=303, headers=HEADERS)
            try:
                return fn(page)
            except Forbidden:
                return page.render("error.html", status=403, title=page.t.gettext("Not allowed"),
                                   message=page.t.gettext("Your account does not give access to this page."))
            except NotFound:
                return page.render("error.html", status=404, title=page.t.gettext("Not found"),
                                   message=page.t.gettext("There is no such report."))
        return endpoint

    # --- pages --------------------------------------------------------------------------------

    def home(self, page: Page) -> Response:
        u = page.user
        assert u is not None
        target = {"national": "/reports/nation", "regional": f"/reports/region/{u.scope}",
                  "site": f"/reports/site/{u.scope}", "technician": "/fleet"}[u.role]
        return RedirectResponse(target, status_code=303, headers=HEADERS)

    def login_form(self, page: Page) -> Response:
        if page.user is not None:
            return RedirectResponse("/", status_code=303)
        return page.render("login.html", next=page.request.query_params.get("next", ""), error=None)

    async def login(self, request: Request) -> Response:
        form = await request.form()
        return await _in_thread(self._login, request, {k: str(v) for k, v in form.items()})

    def _login(self, request: Request, form: dict[str, str]) -> Response:
        page = Page(self, request)
        cookie = request.cookies.get(CSRF_COOKIE, "")
        nxt = form.get("next", "")
        if not cookie or not _same(form.get("csrf", ""), cookie):
            return page.render("login.html", status=400, next=nxt,
                               error=page.t.gettext("The form had expired. Please log in again."))
        name, password = form.get("name", "").strip()[:64], form.get("password", "")[:1024]
        address = request.client.host if request.client else "-"
        if accounts.throttled(page.conn, name, address):
            log.warning("login throttled for an account or address")
            return page.render("login.html", status=429, next=nxt,
                               error=page.t.gettext("Too many failed attempts. Try again in 15 minutes."))
        user = accounts.authenticate(page.conn, name, password, address)
        if user is None:
            return page.render("login.html", status=401, next=nxt,
                               error=page.t.gettext("Wrong user name or password."))
        token, _csrf = accounts.start_session(page.conn, user)
        target = nxt if nxt.startswith("/") and not nxt.startswith("//") and "\\" not in nxt else "/"
        resp = RedirectResponse(target, status_code=303, headers=HEADERS)
        resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", secure=self.secure)
        resp.delete_cookie(CSRF_COOKIE)
        return resp

    async def logout(self, request: Request) -> Response:
        form = await request.form()
        return await _in_thread(self._logout, request, {k: str(v) for k, v in form.items()})

    def _logout(self, request: Request, form: dict[str, str]) -> Response:
        page = Page(self, request)
        if page.user is not None:
            if not _same(form.get("csrf", ""), page.csrf):
                return PlainTextResponse("CSRF token missing or wrong", status_code=403, headers=HEADERS)
            accounts.end_session(page.conn, request.cookies.get(SESSION_COOKIE))
        resp = RedirectResponse("/login", status_code=303, headers=HEADERS)
        resp.delete_cookie(SESSION_COOKIE)
        return resp

    def report(self, page: Page) -> Response:
        scope, key, month = self._scope(page)
        compare = page.request.query_params.get("compare")
        compare = compare if compare in R.COMPARISONS else "previous"
        sites_of_region = R.sites_in(page.conn, key) if scope == "region" else None
        months = R.report_months(month, compare)
        rep = self.figures.get(page.conn, months, ("report", scope, key, month, compare, tuple(sites_of_region or ())),
                               lambda: R.build(page.conn, scope, key, month, compare, sites_of_region=sites_of_region))
        figures = {c: (c, label, kind) for c, label, kind in R.FIGURES}
        side_figure = figures.get(page.request.query_params.get("figure", ""), figures["waiting_median_min"])
        region = key if scope == "region" else None
        sites_side = self.figures.get(page.conn, [month], ("side", month, side_figure[0], region),
                                      lambda: R.compare_sites(page.conn, month, side_figure[0], region)) \
            if scope in ("nation", "region") else []
        table = page.request.query_params.get("csv")
        if table:
            return self._csv(page, rep, table, sites_side, side_figure)
        ctx: dict[str, Any] = dict(rep=rep, scope_name=page.scope_name(scope, key),
                   months=[R.month_shift(month, -i) for i in range(0, 24)],
                   sites_side=sites_side, side_figure=side_figure,
                   comments_url=page.url(page.request.url.path.replace("/reports/", "/comments/", 1), month=month),
                   pdf_url=page.url(page.request.url.path, month=month, compare=compare, format="pdf"))
        if page.request.query_params.get("format") == "pdf":
            assert page.user is not None
            body = self.figures.get(page.conn, months, ("pdf", scope, key, month, compare, side_figure[0],
                                                        page.lang, page.user.name),
                                    lambda: self._pdf(page, ctx))
            name = f"{rep.scope}-{rep.key or 'fi'}-{rep.month}.pdf"
            resp = Response(body, media_type="application/pdf",
                            headers={**HEADERS, "Content-Disposition": f'attachment; filename="{name}"'})
            page.finish(resp)
            return resp
        return page.render("report.html", **ctx)

    def _pdf(self, page: Page, ctx: dict[str, Any]) -> bytes:
        """The same report as a PDF (WeasyPrint), the style sheet inlined (no request back to us)."""
        from weasyprint import HTML

        html = self.env.get_template("report.html").render(page=page, _=page.t.gettext, t=page.t, pdf=True,
                                                           css=(HERE / "static" / "style.css").read_text(), **ctx)
        body: bytes = HTML(string=html, base_url=str(HERE)).write_pdf()
        return body

    def _scope(self, page: Page) -> tuple[str, str | None, str]:
        """The scope and month a report page asks for, after checking the user may see it
        (raises NotFound or Forbidden)."""
        u = page.user
        assert u is not None
        scope = page.request.path_params["scope"]
        key = page.request.path_params.get("key")
        if scope not in R.SCOPES or (scope == "nation") != (key is None):
            raise NotFound()
        region = R.site_region(page.conn, key) if scope == "site" and key is not None else None
        allowed = {"nation": u.sees_nation(), "authority": u.sees_nation(),
                   "region": key is not None and u.sees_region(key),
                   "site": key is not None and u.sees_site(key, region)}[scope]
        if not u.sees_reports() or not allowed:
            raise Forbidden()
        month = page.request.query_params.get("month") or ""
        if not (len(month) == 7 and month[4] == "-" and month[:4].isdigit() and month[5:].isdigit()
                and 1 <= int(month[5:]) <= 12):
            month = R.latest_month(page.conn)
        return scope, key, month

    def comments(self, page: Page) -> Response:
        scope, key, month = self._scope(page)
        q = page.request.query_params
        sentiment = q.get("face") if q.get("face") in R.SENTIMENTS else None
        service = q.get("service") or None
        found = R.comments(page.conn, scope, key, month, sentiment, service)
        services = R.comment_services(page.conn, scope, key, month)
        return page.render("comments.html", scope=scope, key=key, month=month, found=found, face=sentiment,
                           service=service, services=services, scope_name=page.scope_name(scope, key),
                           months=[R.month_shift(month, -i) for i in range(0, 24)])

    def _csv(self, page: Page, rep: R.Report, table: str, sites_side: list[dict[str, Any]],
             side_figure: tuple[str, str, str]) -> Response:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        t = page.t.gettext
        if table == "headline":
            w.writerow([t("Figure"), rep.month, rep.compare_month])
            for col, label, kind in R.FIGURES:
                w.writerow([t(label), page.fmt(rep.headline, col, kind), page.fmt(rep.previous, col, kind)])
        elif table == "outcomes":
            w.writerow([t("Outcome"), t("Count")])
            for o in rep.outcomes:
                w.writerow([o["outcome"], t("withheld") if o["n"] is None else o["n"]])
        elif table == "transfers":
            w.writerow([t("From"), t("To"), t("Count")])
            for x in rep.transfers:
                w.writerow([x["from"], x["to"], t("withheld") if x["n"] is None else x["n"]])
        elif table == "trend":
            w.writerow([t("Month"), t("Tickets"), t("Waiting time, median (min)"),
                        t("Waiting time, 90th percentile (min)"), t("Satisfaction, mean (1–5)")])
            for r in rep.trend:
                w.writerow([r["month"], page.fmt(r, "tickets"), page.fmt(r, "waiting_median_min", "min"),
                            page.fmt(r, "waiting_p90_min", "min"), page.fmt(r, "satisfaction_mean", "mean5")])
        elif table == "heat":
            hours = page.heat_hours(rep.heat)
            w.writerow([t("Hour"), *page.weekdays()])
            for h in hours:
                cells = []
                for d in range(1, 8):
                    tickets, wait = rep.heat.get((d, h), (0, math.nan))
                    shown = t("withheld") if wait is None else "–" if math.isnan(wait) else page.number(wait, "min")
                    cells.append(f"{t('withheld') if tickets is None else tickets} / {shown}")
                w.writerow([f"{h:02d}", *cells])
        elif table == "side":
            w.writerow([t("Site"), t(side_figure[1])])
            for r in sites_side:
                w.writerow([r["site"], page.fmt(r, side_figure[0], side_figure[2])])
        else:
            found = [b for b in rep.breakdowns if b[0] == table]
            if not found:
                return PlainTextResponse("no such table", status_code=404, headers=HEADERS)
            _, keycol, data = found[0]
            labels = {c: lbl for c, lbl, _ in R.FIGURES}
            kinds = {c: k for c, _, k in R.FIGURES}
            w.writerow([keycol, *(t(labels[c]) for c in R.BREAKDOWN)])
            for r in data:
                w.writerow([r[keycol], *(page.fmt(r, c, kinds[c]) for c in R.BREAKDOWN)])
        name = f"{rep.scope}-{rep.key or 'fi'}-{rep.month}-{table}.csv"
        resp = Response(("\ufeff" + buf.getvalue()).encode("utf-8"), media_type="text/csv; charset=utf-8",
                        headers={**HEADERS, "Content-Disposition": f'attachment; filename="{name}"'})
        page.finish(resp)
        return resp

    def fleet(self, page: Page) -> Response:
        from central.fleet import load_fleet, stored_alerts
        from core.events import now_ms

        u = page.user
        assert u is not None
        if not u.sees_fleet():
            raise Forbidden()
        now = now_ms()
        month = page.request.query_params.get("month") or None
        try:
            fleet = load_fleet(page.conn, now, month=month)
        except ValueError:
            fleet = load_fleet(page.conn, now)
        from central.bookings.store import feed_health

        return page.render("fleet.html", fleet=fleet, alerts=stored_alerts(page.conn), now=now,
                           feeds=feed_health(page.conn))

    # --- a site's configuration, uploaded -------------------------------------------------------

    def _config_site(self, page: Page) -> str:
        u = page.user
        assert u is not None
        site = page.request.path_params["site"]
        if not (u.role == "national" or (u.role == "site" and u.scope == site)):
            raise Forbidden()
        return str(site)

    def config_form(self, page: Page) -> Response:
        site = self._config_site(page)
        return page.render("config.html", site=site, problems=None, published=False, text="")

    async def config_upload(self, request: Request) -> Response:
        form = await request.form(max_files=1, max_fields=10)
        upload = form.get("file")
        data = b""
        if upload is not None and not isinstance(upload, str):
            data = await upload.read(MAX_CONFIG_BYTES + 1)
        elif isinstance(form.get("text"), str):
            data = str(form.get("text")).encode("utf-8")
        return await _in_thread(self._config_upload, request, str(form.get("csrf", "")), data)

    def _config_upload(self, request: Request, csrf: str, data: bytes) -> Response:
        page = Page(self, request)
        if page.user is None:
            return RedirectResponse("/login", status_code=303, headers=HEADERS)
        try:
            site = self._config_site(page)
        except Forbidden:
            return page.render("error.html", status=403, title=page.t.gettext("Not allowed"),
                               message=page.t.gettext("Your account does not give access to this page."))
        if not _same(csrf, page.csrf):
            return PlainTextResponse("CSRF token missing or wrong", status_code=403, headers=HEADERS)
        t = page.t.gettext
        problems: list[tuple[int | None, str, str]] = []  # (line, field, message)
        text = ""
        if len(data) > MAX_CONFIG_BYTES:
            problems.append((None, "file", t("The file is larger than 256 KB.")))
        else:
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                problems.append((None, "file", t("The file is not UTF-8 text.")))
        if not problems:
            try:
                parsed = loads_site(text, f"{site}.toml")
                if parsed.id != site:
                    problems.append((line_of(text, "site.id"), "site.id",
                                     t("The file is for site {other}, not {site}.").format(other=parsed.id, site=site)))
            except ConfigError as exc:
                problems += [(line_of(text, i.field, i.message), i.field, i.message) for i in exc.issues]
        status, published = 400 if problems else 200, False
        if not problems and self.broker is not None:
            try:
                publish_config_text(site, text, self.broker, f"{site}.toml", client_id=None)
                published = True
                log.info("site %s: configuration published from the web by %s", site, page.user.name)
            except (PublishError, DownwireError, OSError) as exc:
                problems.append((None, "publish", t("Not published: {reason}").format(reason=str(exc)[:300])))
                status = 502
        return page.render("config.html", status=status, site=site, problems=sorted(problems, key=lambda p: p[0] or 0),
                           published=published, checked=not problems, text=text)

    def app(self) -> Starlette:
        g = self.guarded
        routes = [
            Route("/", g(self.home)),
            Route("/login", g(self.login_form, login=False), methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/reports/{scope}", g(self.report)),
            Route("/reports/{scope}/{key}", g(self.report)),
            Route("/comments/{scope}", g(self.comments)),
            Route("/comments/{scope}/{key}", g(self.comments)),
            Route("/fleet", g(self.fleet)),
            Route("/sites/{site}/config", g(self.config_form), methods=["GET"]),
            Route("/sites/{site}/config", self.config_upload, methods=["POST"]),
            *self.phone.routes(),
            Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
        ]
        if self.push is not None:
            # No login: each authority's own token (central/web/push.py).
            routes.insert(0, Route("/bookings/{feed}", self.push.receive, methods=["POST"]))
        return Starlette(routes=routes, lifespan=self._lifespan)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        if self.follow_link is not None:
            self.follow_link.start()
        await self.phone.startup()
        try:
            yield
        finally:
            self.phone.shutdown()
            if self.follow_link is not None:
                self.follow_link.stop()


async def _in_thread(fn: Callable[..., Response], *args: Any) -> Response:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args)


def create_app(dsn: str, *, secure: bool = True, broker: Broker | None = None,
               follow: FollowLink | None = None, push: "PushFeeds | None" = None) -> Starlette:
    return Web(dsn, secure=secure, broker=broker, follow=follow, push=push).app()
