"""The page behind each ticket's QR code: public, no login, no cookie. `/t/<site>/<token>` shows the
ticket's number, service, place in the queue and estimate, and once called where to go; it updates
itself over server-sent events (`…/live`) and, without JavaScript, reloads every 30 seconds.
"I'm not coming" (`…/cancel`, a confirmation and a POST) asks the site's hub to cancel the ticket.

Everything a page shows comes from central.follow.FollowBoard (memory) and the sites' registered
configurations (names of the site, services and counters), loaded into memory in the background:
answering a page never waits for the database, and a token that is unknown, of another site or
of another day gets the same "not found" page by the same path.
"""
from __future__ import annotations

import asyncio
import datetime as _dt
import json
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from central.follow import FollowBoard, FollowLink, Seen
from core.config import ConfigError, Site, loads_site
from core.events import now_ms
from core.i18n import DOMAINS, Translator, native_name, translator

from .report import _N

log = logging.getLogger("palvelupiste.web.follow")
DOMAIN = "phone"
#: the languages the page can always be read in (the site's own languages come on top)
PHONE_LANGS: tuple[str, ...] = DOMAINS[DOMAIN]
#: "almost your turn" from this many ahead
ALMOST = 2
#: how often the sites' configurations are read again, and a silent stream says it is alive
SITES_REFRESH_S = 10.0
KEEPALIVE_S = 15.0
#: a cancel the snapshot has not confirmed within this long may be sent again
CANCEL_PENDING_MS = 60_000
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; "
                               "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store", "X-Robots-Tag": "noindex",
}


class Limiter:
    """At most `limit` attempts per key in `window_s`; memory stays bounded (old keys dropped)."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window_s, self.clock = limit, window_s, clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = self.clock()
        with self._lock:
            if len(self._hits) > 10_000:
                self._hits = {k: v for k, v in self._hits.items() if v and now - v[-1] < self.window_s}
            hits = self._hits.setdefault(key, deque())
            while hits and now - hits[0] >= self.window_s:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True


@dataclass(frozen=True)
class SiteInfo:
    site: Site
    updated_ms: int

    def today(self, now: int) -> str:
        return _dt.datetime.fromtimestamp(now / 1000, tz=self.site.tz).date().isoformat()

    def langs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(lang for lang in (*self.site.languages, *PHONE_LANGS) if lang in PHONE_LANGS))


class FollowPages:
    def __init__(self, env: Any, db: Any, board: FollowBoard, link: FollowLink | None,
                 clock: Callable[[], int] = now_ms) -> None:
        self.env, self.db, self.board, self.link, self.clock = env, db, board, link, clock
        self.sites: dict[str, SiteInfo] = {}
        self.per_token = Limiter(3, 600)
        self.per_address = Limiter(20, 600)
        # keys whose cancel was sent → when: "cancelling" until the snapshot says cancelled, or
        # until CANCEL_PENDING_MS pass (the hub may have missed it: the customer may press again)
        self.asked: dict[str, int] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        board.listeners.append(self._changed)

    # --- the sites' configurations, in memory ---------------------------------------------------

    def load_sites(self) -> None:
        conn = self.db.get()
        rows = conn.execute("SELECT site, config, updated_ms FROM sites").fetchall()
        out: dict[str, SiteInfo] = {}
        for site, text, updated in rows:
            old = self.sites.get(site)
            if old is not None and old.updated_ms == updated:
                out[site] = old
                continue
            try:
                out[site] = SiteInfo(loads_site(text, f"sites/{site}"), updated)
            except ConfigError as exc:  # registered by the ingest, so valid; be safe
                log.warning("follow: site %s's configuration cannot be read: %s", site, str(exc)[:200])
        self.sites = out

    def _refresh(self) -> None:
        while not self._stop.wait(SITES_REFRESH_S):
            try:
                self.load_sites()
            except Exception:  # the database away for a while: keep what we have
                log.exception("follow: reading the sites' configurations failed")

    async def startup(self) -> None:
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self.load_sites)
        threading.Thread(target=self._refresh, name="follow-sites", daemon=True).start()

    def shutdown(self) -> None:
        self._stop.set()

    # --- waking the open pages ------------------------------------------------------------------

    def _changed(self, site: str) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._kick, site)

    def _kick(self, site: str) -> None:
        ev = self._wake.pop(site, None)
        if ev is not None:
            ev.set()

    def _event(self, site: str) -> asyncio.Event:
        ev = self._wake.get(site)
        if ev is None:
            ev = self._wake[site] = asyncio.Event()
        return ev

    # --- what a page shows ----------------------------------------------------------------------

    def _lookup(self, site: str, token: str) -> tuple[SiteInfo | None, Seen | None]:
        info = self.sites.get(site)
        now = self.clock()
        seen = self.board.find(site, token, info.today(now) if info else "-")
        return (info, seen) if info is not None and seen is not None else (None, None)

    def _lang(self, request: Request, info: SiteInfo | None, seen: Seen | None) -> str:
        langs = info.langs() if info else PHONE_LANGS
        asked = request.query_params.get("lang")
        if asked in langs:
            return asked
        if seen is not None and seen.ticket.get("l") in langs:
            return str(seen.ticket["l"])
        for part in request.headers.get("accept-language", "").split(","):
            code = part.split(";")[0].strip().lower()[:2]
            if code in langs:
                return code
        return "fi"

    def state(self, info: SiteInfo, seen: Seen, t: Translator) -> dict[str, Any]:
        """The ticket as words and numbers in one language (what the template and the stream show)."""
        tk, site = seen.ticket, info.site
        svc = site.services.get(tk["s"])
        if tk["st"] != "waiting" or self.clock() - self.asked.get(seen.key, 0) > CANCEL_PENDING_MS:
            self.asked.pop(seen.key, None)
        st = "cancelling" if tk["st"] == "waiting" and seen.key in self.asked else tk["st"]
        out: dict[str, Any] = {"st": st, "number": tk["n"], "service": svc.label(t.lang) if svc else tk["s"],
                               "ahead": tk.get("a"), "almost": st == "waiting" and tk.get("a", 99) <= ALMOST,
                               "link_down": seen.link_down, "updated": t.format_time(seen.received_ms),
                               "place": None, "low": None, "high": None, "by_customer": bool(tk.get("x"))}
        e = tk.get("e")
        if e:
            out["low"], out["high"] = max(1, round(e[0] / 60)), max(1, round(e[1] / 60))
        if tk.get("c"):
            counter = site.counters.get(tk["c"])
            out["place"] = counter.label(t.lang) if counter else tk["c"]
        return out

    def _render(self, name: str, t: Translator, status: int = 200, **ctx: Any) -> HTMLResponse:
        html = self.env.get_template(name).render(_=t.gettext, t=t, ngettext=t.ngettext, native=native_name, **ctx)
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    def _missing(self, request: Request) -> HTMLResponse:
        lang = self._lang(request, None, None)
        t = translator(lang, DOMAIN)
        return self._render("follow_missing.html", t, 404, lang=lang, langs=PHONE_LANGS, path=request.url.path)

    def _status_html(self, t: Translator, state: dict[str, Any]) -> str:
        html: str = self.env.get_template("follow_status.html").render(_=t.gettext, t=t, ngettext=t.ngettext,
                                                                        s=state)
        return html

    # --- routes ---------------------------------------------------------------------------------

    def _ticket(self, request: Request) -> tuple[SiteInfo, Seen, str] | None:
        """The ticket a route's path names, with the page's language; None: not found."""
        info, seen = self._lookup(request.path_params["site"], request.path_params["token"])
        if info is None or seen is None:
            return None
        return info, seen, self._lang(request, info, seen)

    def _cancel_page(self, request: Request, info: SiteInfo, seen: Seen, lang: str, status: int = 200,
                     error: str | None = None) -> HTMLResponse:
        t = translator(lang, DOMAIN, info.site.timezone)
        return self._render("follow_cancel.html", t, status, lang=lang, langs=info.langs(),
                            s=self.state(info, seen, t), back=_page_of(request, lang),
                            error=t.gettext(error) if error else None, path=request.url.path)

    async def page(self, request: Request) -> Response:
        found = self._ticket(request)
        if found is None:
            return self._missing(request)
        info, seen, lang = found
        t = translator(lang, DOMAIN, info.site.timezone)
        state = self.state(info, seen, t)
        return self._render("follow.html", t, lang=lang, langs=info.langs(), s=state, key=seen.key,
                            site_name=info.site.name.get(lang) or info.site.name.get("en", info.site.id),
                            status_html=self._status_html(t, state), path=request.url.path,
                            live=f"{request.url.path}/live?lang={lang}")

    async def live(self, request: Request) -> Response:
        found = self._ticket(request)
        if found is None:
            return self._missing(request)
        site, token, lang = request.path_params["site"], request.path_params["token"], found[2]

        async def stream() -> AsyncIterator[str]:
            last = None
            yield "retry: 3000\n\n"
            while True:
                wake = self._event(site)  # before reading: a change meanwhile still wakes us
                info, seen = self._lookup(site, token)
                if info is None or seen is None:
                    yield "event: gone\ndata: {}\n\n"
                    return
                t = translator(lang, DOMAIN, info.site.timezone)
                state = self.state(info, seen, t)
                html = self._status_html(t, state)
                if html != last:
                    last = html
                    data = {"html": html, "st": state["st"], "ahead": state["ahead"]}
                    yield f"event: state\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
                try:
                    await asyncio.wait_for(wake.wait(), KEEPALIVE_S)
                except asyncio.TimeoutError:
                    yield ": alive\n\n"

        headers = {**HEADERS, "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    async def cancel_form(self, request: Request) -> Response:
        found = self._ticket(request)
        if found is None:
            return self._missing(request)
        return self._cancel_page(request, *found)

    async def cancel(self, request: Request) -> Response:
        address = request.client.host if request.client else "-"
        found = self._ticket(request)
        if found is None:
            self.per_address.allow(address)
            return self._missing(request)
        info, seen, lang = found
        back = _page_of(request, lang)
        self.state(info, seen, translator(lang, DOMAIN))  # drops a cancel pending too long
        if seen.ticket["st"] != "waiting" or seen.key in self.asked:
            return RedirectResponse(back, status_code=303, headers=HEADERS)  # once: nothing more to do
        if not self.per_address.allow(address) or not self.per_token.allow(seen.key):
            return self._cancel_page(request, info, seen, lang, 429,
                                     _N("Too many attempts. Please try again in a few minutes."))
        if self.link is None or not self.link.cancel(info.site.id, seen.key):
            return self._cancel_page(request, info, seen, lang, 503,
                                     _N("The cancellation could not be sent. Please try again, or tell "
                                        "the staff."))
        self.asked[seen.key] = self.clock()
        self._changed(info.site.id)
        log.info("follow: a cancel was sent to site %s", info.site.id)
        return RedirectResponse(back, status_code=303, headers=HEADERS)

    def routes(self) -> list[Route]:
        return [
            Route("/t/{site}/{token}", self.page, methods=["GET"]),
            Route("/t/{site}/{token}/live", self.live, methods=["GET"]),
            Route("/t/{site}/{token}/cancel", self.cancel_form, methods=["GET"]),
            Route("/t/{site}/{token}/cancel", self.cancel, methods=["POST"]),
        ]


def _page_of(request: Request, lang: str) -> str:
    """The ticket's page, from one of its sub-pages (…/cancel), in `lang`."""
    return request.url.path.rsplit("/", 1)[0] + f"?lang={lang}"
