"""Plots: blocks of a street grid, filled from the town centres outwards.

The AUC box is cut into square blocks (four 28 m cells a side, then a 12 m street). Blocks are
taken in order of a priority (distance to the nearest centre, scaled by the centre's pull, with
seeded noise), and each block is cut into 16, 8 or 4 plots with jittered corners shared by
neighbours, then shrunk by half a metre so that plots never overlap. Every random draw is a
hash of (seed, block, corner), so a block looks the same whatever the number of plots asked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import Polygon

from geoportal.core.area import STORAGE_SRID
from geoportal.demo.landmarks import AUC_BOUNDS, URBAN_CENTRES
from geoportal.demo.shapes import FloatArray, hash_uniform, project
from geoportal.demo.territory import Territory

CELL_M = 28.0
CELLS_PER_SIDE = 4
STREET_M = 12.0
BLOCK_M = CELLS_PER_SIDE * CELL_M + STREET_M
JITTER_M = 3.0
INSET_M = 0.5
NODES_PER_SIDE = CELLS_PER_SIDE + 1
PRIORITY_STREAM, LAYOUT_STREAM, JITTER_X_STREAM, JITTER_Y_STREAM = 400, 401, 402, 403
FIRST_TITLE_NUMBER = 10_000
LAND_CHUNK = 100_000
TITLE_LETTERS = {"CAS": "C", "MOH": "M", "NOU": "N", "MED": "D", "MAN": "S"}
README_TITLE = (12345, "C")
"""The land title the README's examples use (``TF 12345/C``): always in the demo, on the
first plot taken in Casablanca (the same plot at every ``--parcels`` size)."""

IntArray = npt.NDArray[np.int64]


def _layout(step_x: int, step_y: int) -> list[tuple[int, int, int, int]]:
    """Plots of a block as node ranges (i0, j0, i1, j1), each step_x × step_y cells."""
    return [(i, j, i + step_x, j + step_y)
            for j in range(0, CELLS_PER_SIDE, step_y) for i in range(0, CELLS_PER_SIDE, step_x)]


# Layout 0: 16 plots of 28 × 28 m; 1: 8 plots of 56 × 28 m; 2: 4 plots of 56 × 56 m.
_LAYOUTS = (_layout(1, 1), _layout(2, 1), _layout(2, 2))
LAYOUT_PLOTS: IntArray = np.array([plot for layout in _LAYOUTS for plot in layout],
                                  dtype=np.int64)
LAYOUT_START: IntArray = np.array([0, 16, 24], dtype=np.int64)
LAYOUT_COUNT: IntArray = np.array([16, 8, 4], dtype=np.int64)


@dataclass(frozen=True)
class BlockGrid:
    """The street grid over the AUC box."""

    columns: int
    rows: int

    @classmethod
    def over_auc(cls) -> BlockGrid:
        """The grid covering the AUC box."""
        xmin, ymin, xmax, ymax = AUC_BOUNDS
        return cls(math.ceil((xmax - xmin) / BLOCK_M), math.ceil((ymax - ymin) / BLOCK_M))

    def origin(self, block: IntArray) -> FloatArray:
        """The lower-left node of each block."""
        column, row = block % self.columns, block // self.columns
        xy: FloatArray = np.column_stack([
            AUC_BOUNDS[0] + column * BLOCK_M + STREET_M / 2,
            AUC_BOUNDS[1] + row * BLOCK_M + STREET_M / 2,
        ])
        return xy

    def centre(self, block: IntArray) -> FloatArray:
        """The centre of each block."""
        centre: FloatArray = self.origin(block) + CELLS_PER_SIDE * CELL_M / 2
        return centre

    def morton(self, block: IntArray) -> IntArray:
        """A Z-order key, so that plots stored next to each other lie near each other."""
        key = np.zeros(len(block), dtype=np.int64)
        column, row = block % self.columns, block // self.columns
        for bit in range(12):
            key |= ((column >> bit) & 1) << (2 * bit)
            key |= ((row >> bit) & 1) << (2 * bit + 1)
        return key


@dataclass(frozen=True)
class ParcelSet:
    """Plots ready to load, in id order: title numbers, letters and corners (n, 4, 2)."""

    numbers: IntArray
    letters: npt.NDArray[np.str_]
    corners: FloatArray

    def __len__(self) -> int:
        """The number of plots."""
        return len(self.numbers)

    def refs(self, start: int = 0, stop: int | None = None) -> list[str]:
        """Land-title references such as ``TF 123456/C``."""
        numbers = self.numbers[start:stop].tolist()
        letters = self.letters[start:stop].tolist()
        return [f"TF {n}/{letter}" for n, letter in zip(numbers, letters, strict=True)]

    def copy_text(self, start: int, stop: int) -> bytes:
        """Rows ``id, ref, geom`` for COPY in text format (ids count from 1)."""
        ewkb = quad_ewkb_hex(self.corners[start:stop])
        rows = zip(range(start + 1, stop + 1), self.refs(start, stop), ewkb, strict=True)
        return "".join(f"{i}\t{ref}\t{geom}\n" for i, ref, geom in rows).encode()


def block_priority(grid: BlockGrid, block: IntArray, seed: int) -> FloatArray:
    """Lower first: distance to the nearest centre over its pull, times seeded noise."""
    centres = grid.centre(block)
    towns = project([c.lonlat for c in URBAN_CENTRES])
    reach = np.array([c.weight * c.reach_km * 1000.0 for c in URBAN_CENTRES])
    priority = np.full(len(block), np.inf)
    for (x, y), scale in zip(towns, reach, strict=True):
        priority = np.minimum(priority, np.hypot(centres[:, 0] - x, centres[:, 1] - y) / scale)
    noise = hash_uniform(seed, PRIORITY_STREAM, block)
    result: FloatArray = priority * np.exp(0.7 * (noise - 0.5))
    return result


def block_layout(priority: FloatArray, block: IntArray, seed: int) -> IntArray:
    """Small plots near the centres, larger ones further out."""
    draw = hash_uniform(seed, LAYOUT_STREAM, block)
    layout = np.where(priority < 0.6, 0, np.where(draw < 0.5, 0, 1))
    layout = np.where(priority > 1.2, np.where(draw < 0.8, 1, 2), layout)
    result: IntArray = layout.astype(np.int64)
    return result


def _expand(layout: IntArray) -> tuple[IntArray, IntArray]:
    """For blocks with these layouts: the block position and the layout row of each plot."""
    counts = LAYOUT_COUNT[layout]
    owner = np.repeat(np.arange(len(layout)), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    slot = np.arange(len(owner)) - first
    rows: IntArray = LAYOUT_START[layout][owner] + slot
    return owner, rows


def _corner(grid: BlockGrid, block: IntArray, i: IntArray, j: IntArray, seed: int) -> FloatArray:
    """A jittered grid node, the same for every plot that shares it."""
    node = block * NODES_PER_SIDE**2 + j * NODES_PER_SIDE + i
    jitter = np.column_stack([hash_uniform(seed, JITTER_X_STREAM, node),
                              hash_uniform(seed, JITTER_Y_STREAM, node)])
    xy: FloatArray = (grid.origin(block) + np.column_stack([i, j]) * CELL_M
                      + (jitter - 0.5) * 2.0 * JITTER_M)
    return xy


def plot_corners(grid: BlockGrid, block: IntArray, rows: IntArray, seed: int) -> FloatArray:
    """The four corners of each plot, shrunk towards its centre: shape (n, 4, 2)."""
    i0, j0, i1, j1 = (LAYOUT_PLOTS[rows, k] for k in range(4))
    corners = np.stack([_corner(grid, block, i, j, seed)
                        for i, j in ((i0, j0), (i1, j0), (i1, j1), (i0, j1))], axis=1)
    centre = corners.mean(axis=1, keepdims=True)
    size = np.column_stack([i1 - i0, j1 - j0]) * CELL_M
    shrink = 1.0 - 2.0 * INSET_M / size
    shrunk: FloatArray = centre + (corners - centre) * shrink[:, None, :]
    return shrunk


def _plots_of(grid: BlockGrid, blocks: IntArray, layouts: IntArray, inner_land: Polygon,
              seed: int) -> tuple[IntArray, IntArray, FloatArray]:
    """The plots of these blocks that lie on land: block, layout row, corners."""
    owner, rows = _expand(layouts)
    block = blocks[owner]
    corners = plot_corners(grid, block, rows, seed)
    on_land = np.concatenate([
        shapely.contains(inner_land, shapely.polygons(corners[start:start + LAND_CHUNK]))
        for start in range(0, len(corners), LAND_CHUNK)
    ]) if len(corners) else np.zeros(0, dtype=bool)
    return block[on_land], rows[on_land], corners[on_land]


def _candidate_blocks(grid: BlockGrid, territory: Territory, seed: int) -> tuple[
        IntArray, FloatArray]:
    """Blocks whose centre is on land, in priority order, with their priorities."""
    block = np.arange(grid.columns * grid.rows, dtype=np.int64)
    centres = grid.centre(block)
    block = block[shapely.contains_xy(territory.land, centres[:, 0], centres[:, 1])]
    priority = block_priority(grid, block, seed)
    order = np.argsort(priority, kind="stable")
    return block[order], priority[order]


def _select(count: int, territory: Territory, grid: BlockGrid, seed: int) -> tuple[
        IntArray, IntArray, FloatArray]:
    """The first ``count`` plots in priority order."""
    blocks, priority = _candidate_blocks(grid, territory, seed)
    inner_land = territory.land.buffer(-1.0)
    shapely.prepare(inner_land)
    taken = min(len(blocks), count // 4 + 64)
    while True:
        layouts = block_layout(priority[:taken], blocks[:taken], seed)
        block, rows, corners = _plots_of(grid, blocks[:taken], layouts, inner_land, seed)
        if len(block) >= count:
            return block[:count], rows[:count], corners[:count]
        if taken == len(blocks):
            raise ValueError(f"only {len(block)} plots fit on the land, {count} asked")
        taken = min(len(blocks), taken * 2)


def _title_letters(territory: Territory, corners: FloatArray) -> npt.NDArray[np.str_]:
    """The letter of the préfecture holding each plot's centre."""
    centres = corners.mean(axis=1)
    letters = np.full(len(corners), "", dtype="<U1")
    for prefecture in territory.prefectures:
        inside = shapely.intersects_xy(prefecture.geom, centres[:, 0], centres[:, 1])
        letters[(letters == "") & inside] = TITLE_LETTERS[prefecture.spec.code]
    assert not (letters == "").any(), "every plot lies in a préfecture"
    return letters


_EWKB_QUAD = np.dtype([
    ("byte_order", "u1"), ("type", "<u4"), ("srid", "<u4"), ("parts", "<u4"),
    ("part_byte_order", "u1"), ("part_type", "<u4"), ("rings", "<u4"), ("points", "<u4"),
    ("coords", "<f8", (10,)),
])


def quad_ewkb_hex(corners: FloatArray) -> list[str]:
    """Hex EWKB MultiPolygons of one closed four-corner ring each, written without GEOS."""
    records = np.zeros(len(corners), dtype=_EWKB_QUAD)
    records["byte_order"] = records["part_byte_order"] = 1
    records["type"] = 6 | 0x20000000  # MultiPolygon with an SRID
    records["srid"] = STORAGE_SRID
    records["parts"] = records["rings"] = 1
    records["part_type"] = 3
    records["points"] = 5
    ring = np.concatenate([corners, corners[:, :1]], axis=1)
    records["coords"] = ring.reshape(len(corners), 10)
    if len(records) == 0:
        return []
    return records.tobytes().hex("\n", -_EWKB_QUAD.itemsize).split("\n")


def build_parcels(count: int, territory: Territory, seed: int) -> ParcelSet:
    """``count`` non-overlapping plots on land, densest in central Casablanca."""
    grid = BlockGrid.over_auc()
    block, rows, corners = _select(count, territory, grid, seed)
    order = np.lexsort((rows, grid.morton(block)))
    block, rows, corners = block[order], rows[order], corners[order]
    layout = np.searchsorted(LAYOUT_START, rows, side="right") - 1
    numbers = FIRST_TITLE_NUMBER + block * CELLS_PER_SIDE**2 + rows - LAYOUT_START[layout]
    letters = _title_letters(territory, corners)
    return ParcelSet(_with_readme_title(numbers, letters, order), letters, corners)


def _with_readme_title(numbers: IntArray, letters: npt.NDArray[np.str_],
                       order: IntArray) -> IntArray:
    """The numbers with ``README_TITLE`` given to the first plot of the priority order
    lettered like it (``order``: position → priority rank); the plot that had that title
    by its block and row, if taken, gets the chosen plot's number instead (titles stay
    unique)."""
    number, letter = README_TITLE
    by_rank = np.argsort(order)
    ranked = by_rank[letters[by_rank] == letter]
    if len(ranked) == 0:
        return numbers
    chosen = int(ranked[0])
    result = numbers.copy()
    holder = np.flatnonzero((numbers == number) & (letters == letter))
    if len(holder):
        result[holder] = numbers[chosen]
    result[chosen] = number
    return result
