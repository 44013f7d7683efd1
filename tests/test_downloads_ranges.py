"""Downloads and tiles that GDAL and QGIS read in place: length, HEAD, byte ranges, a download
built once per layer version into the cache, and what a client gets wrong answered 4xx."""

from __future__ import annotations

import asyncio
import gzip
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from geoportal.app import create_app
from geoportal.core.ranges import Span, parse_ranges
from geoportal.opendata.cache import DownloadCache, Family
from geoportal.settings import Settings

VECTOR = ["geojson", "csv", "gpkg", "shp.zip"]
TILE = "ogc/collections/parcels/tiles/WebMercatorQuad/15/15692/13135"  # plots of the demo


def _ogrinfo(*args: str) -> str:
    done = subprocess.run(["ogrinfo", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("ext", VECTOR)
@pytest.mark.parametrize("crs", ["CRS84", "EPSG:26191"])
def test_every_vector_download_opens_in_place_with_ogrinfo_over_vsicurl(
    live_server: str, demo_database_url: str, ext: str, crs: str
) -> None:
    # the file name a download in EPSG:26191 is saved under is its URL too (GDAL's CSV driver
    # wants the URL to end in .csv: "?crs=" after it would hide it)
    name = "prefectures" if crs == "CRS84" else "prefectures-26191"
    listing = _ogrinfo("-so", "-al", f"/vsicurl/{live_server}/opendata/{name}.{ext}")

    assert f"Feature Count: {_count(demo_database_url, 'prefectures')}" in listing
    if ext != "csv":
        assert ('ID["EPSG",26191]]' if crs == "EPSG:26191" else 'ID["EPSG",4326]]') in listing


def test_the_saved_file_name_of_a_26191_download_is_the_same_download(live_server: str) -> None:
    by_name = httpx.get(f"{live_server}/opendata/zoning-26191.geojson")
    by_param = httpx.get(f"{live_server}/opendata/zoning.geojson", params={"crs": "EPSG:26191"})

    assert by_name.status_code == by_param.status_code == 200
    assert by_name.content == by_param.content and by_name.headers["etag"] == \
        by_param.headers["etag"]
    assert by_name.json()["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::26191"


def test_the_raster_download_opens_in_place_with_gdalinfo_over_vsicurl(live_server: str) -> None:
    done = subprocess.run(["gdalinfo", f"/vsicurl/{live_server}/opendata/flood-hazard.tif"],
                          capture_output=True, text=True, timeout=60, check=True)
    assert "Size is 1300, 1100" in done.stdout and "Type=Byte" in done.stdout


@pytest.mark.parametrize("suffix", [".mvt", ".pbf"])
def test_an_mvt_tile_opens_in_place_with_ogrinfo_over_vsicurl(live_server: str,
                                                             suffix: str) -> None:
    listing = _ogrinfo("-so", "-al", f"MVT:/vsicurl/{live_server}/{TILE}{suffix}")

    assert "Layer name: parcels" in listing
    assert 'ID["EPSG",3857]]' in listing  # georeferenced from z/x/y in the name
    count = int(listing.split("Feature Count: ")[1].split()[0])
    assert count > 100


def test_a_tile_has_a_length_head_and_byte_ranges_of_its_plain_bytes(live_server: str) -> None:
    url = f"{live_server}/{TILE}"
    plain = {"Accept-Encoding": "identity"}  # as GDAL asks
    whole = httpx.get(url, headers=plain)
    head = httpx.head(url, headers=plain)
    part = httpx.get(url, headers={"Range": "bytes=0-15", "Accept-Encoding": "gzip"})
    beyond = httpx.get(url, headers={"Range": f"bytes={len(whole.content)}-"})

    assert whole.headers["content-length"] == head.headers["content-length"] == \
        str(len(whole.content))
    assert whole.headers["accept-ranges"] == "bytes" and head.content == b""
    assert part.status_code == 206 and "content-encoding" not in part.headers
    assert part.content == whole.content[:16]
    assert part.headers["content-range"] == f"bytes 0-15/{len(whole.content)}"
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(whole.content)}"


@pytest.fixture(scope="module")
def download(live_server: str) -> tuple[str, bytes]:
    """A download's URL and its whole identity body."""
    url = f"{live_server}/opendata/communes.geojson"
    body = httpx.get(url, headers={"Accept-Encoding": "identity"}).content
    return url, body


def test_a_download_has_a_length_validators_and_the_same_head(
    download: tuple[str, bytes]
) -> None:
    url, body = download
    get = httpx.get(url, headers={"Accept-Encoding": "identity"})
    head = httpx.head(url, headers={"Accept-Encoding": "identity"})

    assert get.status_code == head.status_code == 200 and head.content == b""
    for name in ("content-length", "etag", "last-modified", "accept-ranges", "content-type"):
        assert get.headers[name] == head.headers[name], name
    assert get.headers["content-length"] == str(len(body))
    assert not get.headers["etag"].startswith("W/")  # strong: usable in If-Range
    again = httpx.get(url, headers={"If-None-Match": get.headers["etag"],
                                    "Accept-Encoding": "identity"})
    assert again.status_code == 304


def test_a_byte_range_of_a_download_is_a_206_with_those_bytes(
    download: tuple[str, bytes]
) -> None:
    url, body = download
    first = httpx.get(url, headers={"Range": "bytes=0-99"})
    middle = httpx.get(url, headers={"Range": "bytes=1000-1999"})
    tail = httpx.get(url, headers={"Range": "bytes=-50"})
    open_ended = httpx.get(url, headers={"Range": f"bytes={len(body) - 10}-"})
    past_end = httpx.get(url, headers={"Range": f"bytes=10-{len(body) * 2}"})

    assert first.status_code == 206 and first.content == body[:100]
    assert first.headers["content-range"] == f"bytes 0-99/{len(body)}"
    assert first.headers["content-length"] == "100"
    assert middle.content == body[1000:2000]
    assert tail.content == body[-50:] and open_ended.content == body[-10:]
    assert past_end.content == body[10:]
    assert "content-encoding" not in first.headers  # ranges are of the stored bytes


def test_several_ranges_come_as_multipart_byteranges(download: tuple[str, bytes]) -> None:
    url, body = download
    response = httpx.get(url, headers={"Range": "bytes=0-9, 500-519, 505-529"})

    assert response.status_code == 206
    kind, _, boundary = response.headers["content-type"].partition("; boundary=")
    assert kind == "multipart/byteranges"
    assert int(response.headers["content-length"]) == len(response.content)
    parts = response.content.split(f"--{boundary}".encode())[1:-1]
    assert len(parts) == 2  # the overlapping ranges are merged
    got = []
    for part in parts:
        head, _, data = part.partition(b"\r\n\r\n")
        assert b"Content-Type: application/geo+json" in head
        got.append((head.split(b"Content-Range: ")[1].strip().decode(), data[:-2]))
    assert got == [(f"bytes 0-9/{len(body)}", body[:10]),
                   (f"bytes 500-529/{len(body)}", body[500:530])]


def test_an_unsatisfiable_range_is_a_416_in_french_or_english(
    download: tuple[str, bytes]
) -> None:
    url, body = download
    french = httpx.get(url, headers={"Range": f"bytes={len(body)}-"})
    english = httpx.get(url, headers={"Range": f"bytes={len(body) + 5}-",
                                      "Accept-Language": "en"})

    assert french.status_code == english.status_code == 416
    assert french.headers["content-range"] == f"bytes */{len(body)}"
    assert french.json()["description"].startswith("Aucune des plages")
    assert english.json()["description"].startswith("None of the byte ranges")


@pytest.mark.parametrize("value", ["bytes=5-1", "lines=0-5", "bytes=abc", "bytes=", "bytes=-"])
def test_a_range_the_server_does_not_understand_gets_the_whole_file(
    download: tuple[str, bytes], value: str
) -> None:
    url, body = download
    response = httpx.get(url, headers={"Range": value, "Accept-Encoding": "identity"})

    assert response.status_code == 200 and response.content == body


def test_if_range_gives_the_part_only_while_the_file_is_the_same(
    download: tuple[str, bytes]
) -> None:
    url, body = download
    tag = httpx.head(url, headers={"Accept-Encoding": "identity"}).headers
    same = httpx.get(url, headers={"Range": "bytes=0-9", "If-Range": tag["etag"]})
    same_date = httpx.get(url, headers={"Range": "bytes=0-9", "If-Range": tag["last-modified"]})
    other = httpx.get(url, headers={"Range": "bytes=0-9", "If-Range": '"another"',
                                    "Accept-Encoding": "identity"})
    weak = httpx.get(url, headers={"Range": "bytes=0-9", "If-Range": "W/" + tag["etag"],
                                   "Accept-Encoding": "identity"})

    assert same.status_code == same_date.status_code == 206 and same.content == body[:10]
    assert other.status_code == weak.status_code == 200 and other.content == body


def test_a_gzip_client_gets_the_compressed_twin_with_its_own_length_and_tag(
    download: tuple[str, bytes]
) -> None:
    url, body = download
    with httpx.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as packed:
        raw = b"".join(packed.iter_raw())
    head = httpx.head(url, headers={"Accept-Encoding": "gzip"})
    plain = httpx.head(url, headers={"Accept-Encoding": "identity"})

    assert packed.headers["content-encoding"] == "gzip"
    assert packed.headers["content-length"] == head.headers["content-length"] == str(len(raw))
    assert gzip.decompress(raw) == body and len(raw) < len(body) / 2
    assert packed.headers["etag"] != plain.headers["etag"]
    assert "Accept-Encoding" in packed.headers["vary"]


def test_the_cache_holds_one_file_per_download_and_version(
    live_server: str, demo_settings: Settings
) -> None:
    for _ in range(3):
        assert httpx.get(f"{live_server}/opendata/plans.csv",
                         params={"crs": "EPSG:26191"}).status_code == 200
    folder = demo_settings.download_cache_dir
    built = sorted(p.name for p in folder.glob("plans~26191~*"))

    assert len(built) == 2 and built[1] == built[0] + ".gz"
    assert not list(folder.glob(".build-*"))  # nothing left half-written


def test_concurrent_first_requests_get_the_same_file(live_server: str) -> None:
    async def fetch_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=120) as client:
            return list(await asyncio.gather(*(
                client.get(f"{live_server}/opendata/servitudes.gpkg",
                           params={"crs": "EPSG:26191"}) for _ in range(8))))

    responses = asyncio.run(fetch_all())

    assert all(r.status_code == 200 for r in responses)  # more than the download slots
    assert len({r.headers["etag"] for r in responses}) == 1
    assert len({r.content for r in responses}) == 1


def test_the_cache_builds_once_for_concurrent_requests_across_workers(tmp_path: Path) -> None:
    builds: list[str] = []

    async def build(folder: Path) -> tuple[str, Path]:
        builds.append(folder.name)
        await asyncio.sleep(0.3)
        path = folder / "zoning.geojson"
        path.write_text('{"type":"FeatureCollection","features":[]}')
        return "v1", path

    async def scenario() -> list[Path]:
        # two caches on one folder stand for two workers: only the file lock is shared
        workers = [DownloadCache(tmp_path, 10_000_000), DownloadCache(tmp_path, 10_000_000)]
        family = Family("zoning", "geojson", 4326, compressible=True)
        opened = await asyncio.gather(*(workers[i % 2].get(family, "v1", build)
                                        for i in range(6)))
        for entry in opened:
            entry.close()
        return [entry.path for entry in opened]

    paths = asyncio.run(scenario())

    assert len(builds) == 1 and len(set(paths)) == 1
    assert paths[0].read_text().startswith('{"type":"FeatureCollection"')
    assert gzip.decompress(paths[0].with_name(paths[0].name + ".gz").read_bytes()) == \
        paths[0].read_bytes()


def test_a_new_version_replaces_the_old_and_the_bound_evicts_the_least_recent(
    tmp_path: Path
) -> None:
    def builder(name: str, key: str, size: int):  # type: ignore[no-untyped-def]
        async def build(folder: Path) -> tuple[str, Path]:
            path = folder / name
            path.write_bytes(b"x" * size)
            return key, path
        return build

    async def scenario() -> None:
        cache = DownloadCache(tmp_path, 2_500)
        plans = Family("plans", "csv", 4326)
        roads = Family("roads", "csv", 4326)
        zoning = Family("zoning", "csv", 4326)
        (await cache.get(plans, "v1", builder("a.csv", "v1", 1000))).close()
        (await cache.get(plans, "v2", builder("b.csv", "v2", 1000))).close()
        assert sorted(p.name for p in tmp_path.glob("plans~*")) == [plans.file_name("v2")]
        (await cache.get(roads, "v1", builder("c.csv", "v1", 1000))).close()
        await asyncio.sleep(0.01)
        (await cache.get(plans, "v2", builder("never.csv", "v2", 1))).close()  # served again
        (await cache.get(zoning, "v1", builder("d.csv", "v1", 1000))).close()
        names = {p.name for p in tmp_path.iterdir() if not p.name.startswith(".")}
        assert names == {plans.file_name("v2"), zoning.file_name("v1")}  # roads was older

    asyncio.run(scenario())


def test_a_file_being_served_survives_its_replacement(tmp_path: Path) -> None:
    async def scenario() -> bytes:
        cache = DownloadCache(tmp_path, 10_000_000)
        family = Family("parcels", "csv", 26191)

        async def build(key: str, text: bytes):  # type: ignore[no-untyped-def]
            async def write(folder: Path) -> tuple[str, Path]:
                (folder / "p.csv").write_bytes(text)
                return key, folder / "p.csv"
            return await cache.get(family, key, write)

        old = await build("v1", b"old data")
        new = await build("v2", b"new data")
        new.close()
        try:
            return old.handle.read()
        finally:
            old.close()

    assert asyncio.run(scenario()) == b"old data"


@pytest.mark.parametrize(("value", "size", "expected"), [
    ("bytes=0-0", 10, [Span(0, 1)]),
    ("bytes=-3", 10, [Span(7, 10)]),
    ("bytes=-30", 10, [Span(0, 10)]),
    ("bytes=8-", 10, [Span(8, 10)]),
    ("bytes=0-4,2-6,9-", 10, [Span(0, 7), Span(9, 10)]),
    ("bytes=0-1,2-3", 10, [Span(0, 4)]),
    ("bytes=10-", 10, []),
    ("bytes=0-", 0, []),
    ("BYTES = 1 - 2", 10, [Span(1, 3)]),
    ("bytes=3-1", 10, None),
    ("items=0-1", 10, None),
    ("bytes=1-2,x", 10, None),
])
def test_range_values_are_read_as_rfc_9110_says(value: str, size: int,
                                                expected: list[Span] | None) -> None:
    assert parse_ranges(value, size) == expected


@pytest.fixture(scope="module")
def streaming_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the cache would be, were it on."""
    return tmp_path_factory.mktemp("no-cache") / "downloads"


@pytest.fixture(scope="module")
def streaming_client(demo_settings: Settings, streaming_folder: Path) -> Iterator[TestClient]:
    """The app with the download cache turned off."""
    settings = demo_settings.model_copy(update={"opendata_cache_mb": 0,
                                                "opendata_cache_dir": streaming_folder})
    with TestClient(create_app(settings)) as client:
        yield client


def test_with_the_cache_off_downloads_are_streamed_as_before(
    streaming_client: TestClient, streaming_folder: Path
) -> None:
    geojson = streaming_client.get("/opendata/roads.geojson",
                                   headers={"Accept-Encoding": "identity"})
    gpkg = streaming_client.get("/opendata/roads.gpkg", headers={"Accept-Encoding": "identity"})

    assert geojson.status_code == 200 and "content-length" not in geojson.headers
    assert geojson.json()["type"] == "FeatureCollection"
    assert gpkg.status_code == 200 and gpkg.headers["content-length"] == str(len(gpkg.content))
    assert not streaming_folder.exists()


def test_a_cache_folder_that_cannot_be_written_falls_back_to_streaming(
    demo_settings: Settings, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings = demo_settings.model_copy(update={"opendata_cache_dir": blocker / "downloads"})
    with TestClient(create_app(settings)) as client:
        response = client.get("/opendata/prefectures.geojson",
                              headers={"Accept-Encoding": "identity"})

    assert response.status_code == 200 and "content-length" not in response.headers
    assert len(response.json()["features"]) > 0
