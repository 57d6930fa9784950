"""A request as the web apps need it: method, path, query, form, cookies, who sent it."""

from __future__ import annotations

from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs, urlsplit

from .http import Environ, read_body

MAX_FORM = 64 * 1024


@dataclass
class Request:
    environ: Environ
    form: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, environ: Environ) -> Request:
        """Reads the form of a POST (BadRequest if its body is not acceptable)."""
        request = cls(environ)
        if request.method == "POST":
            body = read_body(environ, MAX_FORM).decode("utf-8", "replace")
            request.form = parse_qs(body, keep_blank_values=True)
        return request

    @property
    def method(self) -> str:
        return str(self.environ.get("REQUEST_METHOD", "GET")).upper()

    @property
    def path(self) -> str:
        return str(self.environ.get("PATH_INFO", "") or "/")

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(str(self.environ.get("QUERY_STRING", "")))

    def arg(self, name: str, default: str = "") -> str:
        """A form field (POST) or query parameter (GET), the first if repeated."""
        found = self.form.get(name) or self.query.get(name)
        return found[0] if found else default

    def cookie(self, name: str) -> str:
        try:
            jar = SimpleCookie(str(self.environ.get("HTTP_COOKIE", "")))
        except CookieError:
            return ""
        morsel = jar.get(name)
        return morsel.value if morsel else ""

    @property
    def secure(self) -> bool:
        """Came over https (directly, or through the trusted proxy that says so)."""
        return self.environ.get("wsgi.url_scheme") == "https"

    @property
    def remote(self) -> str:
        return str(self.environ.get("REMOTE_ADDR", "") or "unknown")

    def same_origin(self) -> bool:
        """A browser's Origin (or Referer), when it sends one, names this host."""
        origin = self.environ.get("HTTP_ORIGIN") or self.environ.get("HTTP_REFERER")
        if not origin or origin == "null":
            return origin != "null"
        return bool(urlsplit(str(origin)).netloc == self.environ.get("HTTP_HOST", ""))
