"""The demo holds the land titles the README's examples use, at every ``--parcels`` size."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest

from geoportal.demo.parcels import README_TITLE, ParcelSet, build_parcels
from geoportal.demo.territory import Territory, build_territory

README_REF = f"TF {README_TITLE[0]}/{README_TITLE[1]}"


@pytest.fixture(scope="module")
def territory() -> Territory:
    return build_territory()


def plot_of(plots: ParcelSet, ref: str) -> np.ndarray:
    refs = plots.refs()
    assert ref in refs, f"{ref} missing from {len(refs)} plots"
    return plots.corners[refs.index(ref)]


def test_the_readme_title_is_in_the_demo_at_every_size_and_is_the_same_plot(
        territory: Territory) -> None:
    first = plot_of(build_parcels(1, territory, 42), README_REF)
    for count in (7, 300, 20_000):
        plots = build_parcels(count, territory, 42)
        assert np.array_equal(plot_of(plots, README_REF), first)
        assert len(set(plots.refs())) == count  # titles stay unique


def test_the_readme_title_is_in_casablanca_whatever_the_seed(territory: Territory) -> None:
    for seed in (1, 7):
        assert README_REF in build_parcels(50, territory, seed).refs()


def test_every_land_title_the_readme_uses_is_the_one_the_demo_holds() -> None:
    """The README's examples (lookup, note, batch) copy-paste as they are."""
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    used = {unquote(ref) for ref in re.findall(r"TF(?:%20| )\d+(?:/|%2F|-)[A-Z]+", readme)}
    assert used == {README_REF}
