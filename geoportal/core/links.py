"""Absolute links: the one link builder of the OGC API."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode

from fastapi import Request

from geoportal.core.formats import Format
from geoportal.core.urls import public_base

Link = dict[str, str]


class HasPublicUrl(Protocol):
    """What links need of the settings: the public URL, when one is configured."""

    public_url: str | None


@dataclass(frozen=True)
class Links:
    """Builds absolute URLs under the public base URL (or the request's own)."""

    base: str

    @classmethod
    def for_request(cls, request: Request, settings: HasPublicUrl) -> Links:
        """The builder for one request: the public URL, never the client's Host header."""
        return cls(public_base(request.scope, settings.public_url))

    def url(self, path: str, params: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> str:
        """An absolute URL of a path of this service, with query parameters."""
        query = urlencode(list(params.items()) if isinstance(params, Mapping) else list(params))
        return f"{self.base}{path}" + (f"?{query}" if query else "")

    def link(self, path: str, rel: str, fmt: Format | None = None, title: str | None = None,
             params: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> Link:
        """One link object; the format adds its ``f=`` and media type."""
        pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
        link: Link = {"rel": rel}
        if fmt is not None:
            pairs = [(k, v) for k, v in pairs if k != "f"] + [("f", fmt.name)]
            link["type"] = fmt.media_type
        link["href"] = self.url(path, pairs)
        link["title"] = title or (fmt.title if fmt else rel)
        return link

    def alternates(self, path: str, current: Format, offered: Iterable[Format],
                   params: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> list[Link]:
        """``self`` in the current format and ``alternate`` in every other."""
        pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
        links = [self.link(path, "self", current, f"Ce document ({current.title})", pairs)]
        links += [self.link(path, "alternate", fmt, f"Ce document en {fmt.title}", pairs)
                  for fmt in offered if fmt != current]
        return links


def replace_params(params: Iterable[tuple[str, str]], drop: Iterable[str],
                   add: Mapping[str, str]) -> list[tuple[str, str]]:
    """The request's own parameters, without ``drop``, plus ``add`` (for next/prev links)."""
    dropped = set(drop) | set(add)
    return [(k, v) for k, v in params if k not in dropped] + list(add.items())
