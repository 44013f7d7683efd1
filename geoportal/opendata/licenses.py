"""The licenses the layers are published under, and the license file shipped with each."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class License:
    """A license by its SPDX identifier: its name, canonical URL and what it asks."""

    id: str
    title: str
    url: str | None
    summary: str


KNOWN = {
    "ODbL-1.0": License(
        "ODbL-1.0", "Open Data Commons Open Database License (ODbL) v1.0",
        "https://opendatacommons.org/licenses/odbl/1-0/",
        "You may copy, distribute and use the data, produce works from it and modify it, "
        "provided that you attribute the source, share any adapted database under the ODbL, "
        "and keep it open (no technical restrictions)."),
    "CC-BY-4.0": License(
        "CC-BY-4.0", "Creative Commons Attribution 4.0 International",
        "https://creativecommons.org/licenses/by/4.0/",
        "You may share and adapt the data for any purpose, provided that you give "
        "appropriate credit and indicate if changes were made."),
    "etalab-2.0": License(
        "etalab-2.0", "Licence Ouverte / Open Licence 2.0", "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
        "Réutilisation libre, y compris commerciale, sous réserve de mentionner la source."),
    "CC0-1.0": License(
        "CC0-1.0", "Creative Commons Zero v1.0 Universal",
        "https://creativecommons.org/publicdomain/zero/1.0/",
        "No rights reserved: the data are dedicated to the public domain."),
}


def license_of(identifier: str) -> License:
    """The license with that identifier (an unknown one is shown as given, without a URL)."""
    return KNOWN.get(identifier, License(identifier, identifier, None, ""))


def license_file(title: str, identifier: str, attribution: str, updated: dt.datetime | None,
                 version: str, source_url: str) -> str:
    """The LICENSE.txt that goes with a download: what it is, who made it, the terms."""
    terms = license_of(identifier)
    lines = [
        title,
        "=" * len(title),
        "",
        f"Source: {attribution}",
        f"Downloaded from: {source_url}",
        f"Data version: {version}" + (f" (updated {updated:%Y-%m-%d %H:%M} UTC)"
                                      if updated else ""),
        "",
        f"License: {terms.title} ({terms.id})",
    ]
    if terms.url:
        lines.append(f"Full text: {terms.url}")
    if terms.summary:
        lines += ["", terms.summary]
    lines += ["", "Demonstration data: synthetic, not the official records of the agency.", ""]
    return "\n".join(lines)
