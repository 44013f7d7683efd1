"""OGC API Features Part 4: editors create, replace, patch and delete features, signed in,
with optimistic locking (ETag / If-Match), checked before anything is written, recorded in
the history with their name — against a demo database of this module's own."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import asyncpg
import httpx
import psycopg
import pytest
from conftest import uvicorn_server
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geoportal.app import create_app
from geoportal.db.catalog import table_info
from geoportal.db.urls import libpq_url, resolve_write_database_url, with_database
from geoportal.errors import Conflict, InvalidBody
from geoportal.ogc import edits
from geoportal.ogc.edit_body import read_edit
from geoportal.ogc.edits import EditContext
from geoportal.registry import Layer, LayerProperty
from geoportal.settings import Settings

ITEMS = "/ogc/collections/{}/items"
EPSG_26191 = "http://www.opengis.net/def/crs/EPSG/0/26191"
EPSG_4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}
# A free corner of central Casablanca, in EPSG:26191 (metres).
X0, Y0 = 296_630.0, 332_700.0


# Fixtures: a demo database, keys of each kind, an in-process client, live servers


@pytest.fixture(scope="module")
def edit_database_url(fresh_database: Callable[[str], str],
                      tmp_path_factory: pytest.TempPathFactory) -> str:
    """The demo data set (2,000 plots) in a database that only this module writes."""
    from geoportal.demo.load import load_demo

    url = fresh_database("edit_demo")
    load_demo(url, parcels=2000, seed=42)
    return url


def mint_key(url: str, name: str, role: str, *layers: str) -> str:
    """A new API key from the real CLI (its one line on stdout)."""
    options = [arg for layer in layers for arg in ("--layer", layer)]
    result = subprocess.run([sys.executable, "-m", "geoportal.cli", "keys", "create", name,
                             "--role", role, *options], capture_output=True, text=True,
                            env={**os.environ, "GEOPORTAL_DATABASE_URL": url}, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def keys(edit_database_url: str) -> dict[str, str]:
    """An editor of every layer, an editor of the plots only, an instructeur, an admin."""
    return {"editor": mint_key(edit_database_url, "urbanisme-sig", "editor"),
            "parcels_editor": mint_key(edit_database_url, "cadastre", "editor", "parcels"),
            "instructeur": mint_key(edit_database_url, "instruction", "instructeur"),
            "admin": mint_key(edit_database_url, "admin-sig", "admin")}


def auth(key: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **headers}


@pytest.fixture(scope="module")
def writer_url(edit_database_url: str) -> str:
    """The database as the service's writer role sees it (least privilege, as deployed)."""
    database = psycopg.conninfo.conninfo_to_dict(edit_database_url)["dbname"]
    return with_database(libpq_url(resolve_write_database_url(Settings())), str(database))


@pytest.fixture(scope="module")
def client(edit_database_url: str, writer_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=edit_database_url,
                                        write_database_url=writer_url,
                                        auth_cache_s=300))) as client:
        yield client


@pytest.fixture(scope="module")
def live(edit_database_url: str, writer_url: str) -> Iterator[str]:
    """uvicorn on this module's database, If-Match required (the default)."""
    with uvicorn_server(edit_database_url, GEOPORTAL_AUTH_CACHE_S="300",
                        GEOPORTAL_WRITE_DATABASE_URL=writer_url) as server:
        yield server.base


@pytest.fixture(scope="module")
def live_if_match_optional(edit_database_url: str, writer_url: str) -> Iterator[str]:
    """uvicorn with ``edit_require_if_match`` off (for clients that send none: QGIS)."""
    with uvicorn_server(edit_database_url, GEOPORTAL_AUTH_CACHE_S="300",
                        GEOPORTAL_WRITE_DATABASE_URL=writer_url,
                        GEOPORTAL_EDIT_REQUIRE_IF_MATCH="false") as server:
        yield server.base


def sql(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()  # type: ignore[arg-type]


def square(x: float = X0, y: float = Y0, size: float = 20.0) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[x, y], [x + size, y], [x + size, y + size],
                                                [x, y + size], [x, y]]]}


def zone_codes(url: str, plan_id: int) -> list[str]:
    return [r[0] for r in sql(url, "SELECT code FROM zone_rules WHERE plan_id = %s "
                                   "ORDER BY code", plan_id)]


def zone(url: str, plan_id: int = 1, **changes: Any) -> dict[str, Any]:
    """A zoning feature of plan ``plan_id`` with one of its codes, as a CRS84 body."""
    feature = {"type": "Feature", "properties": {"code": zone_codes(url, plan_id)[0],
                                                 "plan_id": plan_id},
               "geometry": {"type": "Polygon", "coordinates": [[
                   [-7.6321, 33.5921], [-7.6315, 33.5921], [-7.6315, 33.5926],
                   [-7.6321, 33.5926], [-7.6321, 33.5921]]]}}
    feature.update(changes)
    return feature


def created(client: TestClient, key: str, layer: str, body: dict[str, Any],
            **headers: str) -> tuple[int, str]:
    """POST a feature; its id and ETag."""
    response = client.post(ITEMS.format(layer), json=body, headers=auth(key, **headers))
    assert response.status_code == 201, response.text
    return int(response.headers["location"].rsplit("/", 1)[1]), response.headers["etag"]


def stored_wkt(url: str, table: str, fid: int) -> str:
    return sql(url, f"SELECT ST_AsText(geom) FROM {table} WHERE id = %s", fid)[0][0]


# Create, replace, patch, delete — and what the history keeps


def test_an_editor_creates_a_feature_answered_201_with_location_etag_and_the_feature(
        client: TestClient, keys: dict[str, str], edit_database_url: str) -> None:
    response = client.post(ITEMS.format("zoning"), json=zone(edit_database_url),
                           headers=auth(keys["editor"], Host="evil.example"))
    assert response.status_code == 201, response.text
    fid = int(response.json()["id"])
    assert response.headers["location"] == f"http://testserver/ogc/collections/zoning/items/{fid}"
    assert response.headers["etag"] == '"v1"'
    assert response.headers["content-type"] == "application/geo+json"
    body = response.json()
    assert body["properties"]["plan_id"] == 1
    assert body["geometry"]["type"] == "MultiPolygon"  # a Polygon fits the MultiPolygon layer
    read = client.get(f"/ogc/collections/zoning/items/{fid}")
    assert read.status_code == 200 and read.headers["etag"] == '"v1"'
    assert read.json()["properties"] == body["properties"]


def test_every_change_is_in_the_history_with_the_editor_and_one_changeset_each(
        client: TestClient, keys: dict[str, str], edit_database_url: str) -> None:
    fid, etag = created(client, keys["editor"], "zoning", zone(edit_database_url))
    codes = zone_codes(edit_database_url, 1)
    patched = client.patch(f"{ITEMS.format('zoning')}/{fid}",
                           json={"properties": {"code": codes[1]}},
                           headers=auth(keys["editor"], **{"If-Match": etag}, **MERGE_PATCH))
    assert patched.status_code == 200 and patched.headers["etag"] == '"v2"'
    deleted = client.delete(f"{ITEMS.format('zoning')}/{fid}",
                            headers=auth(keys["editor"], **{"If-Match": '"v2"'}))
    assert deleted.status_code == 204 and deleted.content == b""
    assert client.get(f"{ITEMS.format('zoning')}/{fid}").status_code == 404
    history = sql(edit_database_url,
                  "SELECT h.version, h.code, h.changed_by, h.ended_by, h.ended_op, c.actor, "
                  "c.source FROM zoning_history h JOIN changesets c "
                  "ON c.id = h.ended_changeset_id WHERE h.id = %s ORDER BY h.version", fid)
    assert history == [
        (1, codes[0], "key:urbanisme-sig", "key:urbanisme-sig", "update", "key:urbanisme-sig",
         "api"),
        (2, codes[1], "key:urbanisme-sig", "key:urbanisme-sig", "delete", "key:urbanisme-sig",
         "api")]
    changesets = sql(edit_database_url, "SELECT count(DISTINCT changeset_id) FROM "
                     "(SELECT changeset_id FROM zoning_history WHERE id = %s UNION ALL "
                     "SELECT ended_changeset_id FROM zoning_history WHERE id = %s) c", fid, fid)
    assert changesets == [(3,)]  # create, patch, delete


def test_put_replaces_the_feature_whole_and_absent_properties_get_their_default(
        client: TestClient, keys: dict[str, str]) -> None:
    body = {"type": "Feature", "geometry": square(), "properties": {
        "kind": "patrimoine", "name": "Villa Mauresque", "effect": "avis de l'inspection",
        "text": "Périmètre de protection", "legal_ref": "Arrêté 123", "max_height_m": 12}}
    fid, etag = created(client, keys["editor"], "servitudes", body,
                        **{"Content-Crs": f"<{EPSG_26191}>"})
    replacement = {"type": "Feature", "id": str(fid), "geometry": square(size=30),
                   "properties": {"kind": "patrimoine", "name": "Villa Mauresque (extension)",
                                  "effect": "avis", "text": "Périmètre étendu"}}
    response = client.put(f"{ITEMS.format('servitudes')}/{fid}", json=replacement,
                          headers=auth(keys["editor"], **{"If-Match": etag,
                                                          "Content-Crs": EPSG_26191}))
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"v2"'
    properties = response.json()["properties"]
    assert properties["name"] == "Villa Mauresque (extension)"
    assert properties["legal_ref"] is None and properties["max_height_m"] is None
    assert client.get(f"{ITEMS.format('servitudes')}/{fid}").headers["etag"] == '"v2"'


def test_patch_changes_only_the_properties_given_and_keeps_the_geometry(
        client: TestClient, keys: dict[str, str], edit_database_url: str) -> None:
    before = client.get(f"{ITEMS.format('roads')}/3")
    geometry = stored_wkt(edit_database_url, "roads", 3)
    response = client.patch(f"{ITEMS.format('roads')}/3",
                            json={"properties": {"name": "Autoroute A1 (élargie)"}},
                            headers=auth(keys["editor"], **{"If-Match": before.headers["etag"]},
                                         **MERGE_PATCH))
    assert response.status_code == 200, response.text
    assert response.json()["properties"] == {**before.json()["properties"],
                                             "name": "Autoroute A1 (élargie)"}
    assert stored_wkt(edit_database_url, "roads", 3) == geometry


def test_patch_with_null_removes_a_property_and_a_geometry_replaces_it_whole(
        client: TestClient, keys: dict[str, str], edit_database_url: str) -> None:
    body = {"type": "Feature", "geometry": square(X0 + 100), "properties": {
        "kind": "voirie", "label": "Voie projetée", "width_m": 20.0, "plan_id": 1,
        "facility": "voie"}}
    fid, etag = created(client, keys["editor"], "reservations", body,
                        **{"Content-Crs": EPSG_26191})
    response = client.patch(f"{ITEMS.format('reservations')}/{fid}",
                            json={"properties": {"facility": None},
                                  "geometry": square(X0 + 100, size=5)},
                            headers=auth(keys["editor"], **{"If-Match": etag,
                                                            "Content-Crs": EPSG_26191}))
    assert response.status_code == 200, response.text
    assert response.json()["properties"]["facility"] is None
    area = sql(edit_database_url, "SELECT round(ST_Area(geom)) FROM reservations "
                                  "WHERE id = %s", fid)
    assert area == [(25,)]


def test_read_only_properties_are_ignored_and_the_update_time_is_renewed(
        client: TestClient, keys: dict[str, str], edit_database_url: str) -> None:
    body = {"type": "Feature", "geometry": square(X0 + 300), "properties": {
        "ref": "TF 777001/C", "area_m2": 1.0, "updated_at": "2001-01-01T00:00:00Z"}}
    fid, etag = created(client, keys["parcels_editor"], "parcels", body,
                        **{"Content-Crs": EPSG_26191})
    first = client.get(f"{ITEMS.format('parcels')}/{fid}").json()["properties"]
    assert first["area_m2"] == 400.0 and not first["updated_at"].startswith("2001")
    patched = client.patch(f"{ITEMS.format('parcels')}/{fid}",
                           json={"properties": {"ref": "TF 777001/C bis", "area_m2": 5}},
                           headers=auth(keys["parcels_editor"], **{"If-Match": etag}))
    assert patched.status_code == 200, patched.text
    second = patched.json()["properties"]
    assert second["area_m2"] == 400.0 and second["updated_at"] > first["updated_at"]


# Where the geometry lands: the CRS of the body


def test_a_body_in_epsg_26191_lands_where_the_same_body_in_crs84_does(
        client: TestClient, keys: dict[str, str], edit_database_url: str) -> None:
    merchich = square(X0 + 500, Y0 + 500, 25)
    a, _ = created(client, keys["editor"], "servitudes", servitude(merchich),
                   **{"Content-Crs": f"<{EPSG_26191}>"})
    assert stored_wkt(edit_database_url, "servitudes", a).startswith(
        f"MULTIPOLYGON((({X0 + 500:.0f} {Y0 + 500:.0f},")
    lonlat = client.get(f"{ITEMS.format('servitudes')}/{a}").json()["geometry"]
    b, _ = created(client, keys["editor"], "servitudes", servitude(lonlat))
    latlon = {"type": "MultiPolygon", "coordinates": [
        [[[y, x] for x, y in ring] for ring in polygon] for polygon in lonlat["coordinates"]]}
    c, _ = created(client, keys["editor"], "servitudes", servitude(latlon),
                   **{"Content-Crs": EPSG_4326})
    distances = sql(edit_database_url,
                    "SELECT ST_HausdorffDistance(a.geom, o.geom) FROM servitudes a, servitudes o "
                    "WHERE a.id = %s AND o.id IN (%s, %s)", a, b, c)
    assert len(distances) == 2 and all(d < 0.02 for (d,) in distances), distances


def servitude(geometry: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": {
        "kind": "aeronautique", "name": "Cône d'envol", "effect": "hauteur limitée",
        "text": "Servitude aéronautique"}}


def test_a_json_fg_body_places_its_place_in_its_coord_ref_sys(
        client: TestClient, keys: dict[str, str], edit_database_url: str) -> None:
    body = {"type": "Feature", "conformsTo": ["http://www.opengis.net/spec/json-fg-1/0.2/conf/core"],
            "coordRefSys": EPSG_26191, "place": square(X0 + 800, Y0, 10), "geometry": None,
            "time": None, "properties": servitude(square())["properties"]}
    response = client.post(ITEMS.format("servitudes"), content=json.dumps(body),
                           headers=auth(keys["editor"], **{"Content-Type": "application/fg+json"}))
    assert response.status_code == 201, response.text
    fid = response.json()["id"]
    assert stored_wkt(edit_database_url, "servitudes", fid).startswith(
        f"MULTIPOLYGON((({X0 + 800:.0f} {Y0:.0f},")


# Who may write


def test_writing_without_credentials_is_a_401_with_a_bearer_challenge(
        client: TestClient, edit_database_url: str) -> None:
    response = client.post(ITEMS.format("zoning"), json=zone(edit_database_url))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "Authentification requise" in response.json()["description"]


def test_an_editor_of_other_layers_or_another_role_gets_a_403(
        client: TestClient, keys: dict[str, str], edit_database_url: str) -> None:
    for key in (keys["parcels_editor"], keys["instructeur"]):
        response = client.post(ITEMS.format("zoning"), json=zone(edit_database_url),
                               headers=auth(key))
        assert response.status_code == 403, response.text
    english = client.delete(f"{ITEMS.format('zoning')}/1",
                            headers=auth(keys["parcels_editor"], **{"If-Match": "*",
                                                                     "Accept-Language": "en"}))
    assert english.status_code == 403
    assert english.json()["description"] == "These credentials may not change layer 'zoning'."


def test_an_admin_may_edit_every_editable_layer(client: TestClient, keys: dict[str, str],
                                                edit_database_url: str) -> None:
    created(client, keys["admin"], "zoning", zone(edit_database_url))


def test_a_layer_not_editable_answers_405_with_allow_before_asking_for_credentials(
        client: TestClient, keys: dict[str, str]) -> None:
    for response in (client.post(ITEMS.format("prefectures"), json={}),
                     client.put(f"{ITEMS.format('communes')}/1", json={},
                                headers=auth(keys["admin"]))):
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, HEAD, OPTIONS"
        assert "lecture seule" in response.json()["description"]


def test_options_lists_the_write_methods_only_to_editors_of_that_layer(
        client: TestClient, keys: dict[str, str]) -> None:
    def allow(path: str, **headers: str) -> set[str]:
        response = client.options(path, headers=headers)
        assert response.status_code == 204
        return set(response.headers["allow"].split(", "))

    read = {"GET", "HEAD", "OPTIONS"}
    items, item = ITEMS.format("zoning"), f"{ITEMS.format('zoning')}/1"
    assert allow(items) == read and allow(item) == read
    assert allow(items, **auth(keys["editor"])) == read | {"POST"}
    assert allow(item, **auth(keys["editor"])) == read | {"PUT", "PATCH", "DELETE"}
    assert allow(item, **auth(keys["parcels_editor"])) == read
    assert allow(item, **auth(keys["instructeur"])) == read
    assert allow(f"{ITEMS.format('prefectures')}/1", **auth(keys["admin"])) == read
    assert allow(items, Authorization="Bearer gp_not-a-key") == read


# Optimistic locking


def test_get_gives_the_version_as_a_strong_etag_and_304_to_if_none_match(
        client: TestClient) -> None:
    path = f"{ITEMS.format('communes')}/2"
    response = client.get(path)
    assert response.headers["etag"] == '"v1"'
    assert client.get(path, headers={"If-None-Match": '"v1"'}).status_code == 304
    assert client.head(path).headers["etag"] == '"v1"'
    other = client.get(path + "?crs=" + EPSG_26191).headers["etag"]
    assert other.startswith('"v1-') and other != '"v1"'
    assert client.get(path + "?crs=" + EPSG_26191,
                      headers={"If-None-Match": other}).status_code == 304


def test_changes_need_if_match_428_and_a_stale_one_is_a_412_with_the_current_etag(
        client: TestClient, keys: dict[str, str], edit_database_url: str) -> None:
    fid, etag = created(client, keys["editor"], "zoning", zone(edit_database_url))
    path = f"{ITEMS.format('zoning')}/{fid}"
    missing = client.patch(path, json={"properties": {}}, headers=auth(keys["editor"]))
    assert missing.status_code == 428
    assert "If-Match est requis" in missing.json()["description"]
    assert client.delete(path, headers=auth(keys["editor"])).status_code == 428
    # Any representation's ETag of the current version will do; star means "exists".
    variant = client.get(path + "?f=jsonfg").headers["etag"]
    assert client.patch(path, json={}, headers=auth(keys["editor"], **{"If-Match": variant}
                                                    )).headers["etag"] == '"v2"'
    for stale in (etag, variant, 'W/"v2"', '"something-else"'):
        response = client.patch(path, json={}, headers=auth(keys["editor"],
                                                            **{"If-Match": stale}))
        assert response.status_code == 412, stale
        assert response.headers["etag"] == '"v2"'
    assert client.patch(path, json={}, headers=auth(keys["editor"], **{"If-Match": '"v1", "v2"'}
                                                    )).status_code == 200
    assert client.delete(path, headers=auth(keys["editor"], **{"If-Match": "*"})
                         ).status_code == 204
    assert client.delete(path, headers=auth(keys["editor"], **{"If-Match": "*"})
                         ).status_code == 404


# Refusals: 400, 415, 422, 409 — French by default, English on request, never half-written


def test_a_body_that_is_not_json_or_of_another_media_type_is_refused(
        client: TestClient, keys: dict[str, str]) -> None:
    post = ITEMS.format("roads")
    malformed = client.post(post, content=b"{not json", headers=auth(
        keys["editor"], **{"Content-Type": "application/geo+json"}))
    assert malformed.status_code == 400
    assert malformed.json()["description"] == "le corps de la requête n'est pas du JSON valide"
    wrong_type = client.post(post, content=b"<Feature/>", headers=auth(
        keys["editor"], **{"Content-Type": "application/xml"}))
    assert wrong_type.status_code == 415
    assert "application/geo+json" in wrong_type.json()["description"]
    patch_type = client.post(post, json={}, headers=auth(keys["editor"], **MERGE_PATCH))
    assert patch_type.status_code == 415  # a merge patch only patches
    collection = client.post(post, json={"type": "FeatureCollection", "features": []},
                             headers=auth(keys["editor"]))
    assert collection.status_code == 400 and collection.json()["field"] == "type"


@pytest.mark.parametrize(("layer", "body", "status", "field", "words"), [
    ("roads", {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[1, 2]]},
               "properties": {"road_class": "primaire"}}, 422, "geometry", "au moins 2"),
    ("roads", {"type": "Feature", "geometry": {"type": "LineString", "coordinates": "a,b"},
               "properties": {"road_class": "primaire"}}, 400, "geometry", "mal formées"),
    ("roads", {"type": "Feature", "geometry": {"type": "LineString",
                                               "coordinates": [[1, "2"], [3, 4]]},
               "properties": {"road_class": "primaire"}}, 400, "geometry", "position"),
    ("zoning", {"type": "Feature", "geometry": {"type": "LineString",
                                                "coordinates": [[-7.6, 33.5], [-7.5, 33.6]]},
                "properties": {"code": "B", "plan_id": 1}}, 422, "geometry",
     "un LineString ne convient pas"),
    ("zoning", {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[
        [-7.6, 33.5], [-7.5, 33.5], [-7.5, 33.6], [-7.6, 33.6]]]},
                "properties": {"code": "B", "plan_id": 1}}, 422, "geometry", "fermé"),
    ("zoning", {"type": "Feature", "geometry": None, "properties": {"code": "B", "plan_id": 1}},
     422, "geometry", "obligatoire"),
    ("zoning", {"type": "Feature", "geometry": square(), "properties": {"plan_id": 1}},
     422, "properties.code", "obligatoire"),
    ("zoning", {"type": "Feature", "geometry": square(),
                "properties": {"code": "B", "plan_id": 1, "couleur": "rouge"}},
     422, "properties.couleur", "propriété inconnue"),
    ("zoning", {"type": "Feature", "geometry": square(),
                "properties": {"code": "B", "plan_id": "un"}}, 422, "properties.plan_id",
     "un entier est attendu"),
    ("zoning", {"type": "Feature", "geometry": square(),
                "properties": {"code": "B" * 17, "plan_id": 1}}, 422, "properties.code",
     "au plus 16 caractères"),
    ("plans", {"type": "Feature", "geometry": square(),
               "properties": {"ref": "PA-X", "name": "X", "status": "approuvé"}},
     422, "properties.status", "valeurs admises : en vigueur, en révision"),
    ("plans", {"type": "Feature", "geometry": square(),
               "properties": {"ref": "PA-X", "name": "X", "status": "en vigueur",
                              "approval_date": "10/05/2016"}},
     422, "properties.approval_date", "AAAA-MM-JJ"),
    ("zoning", {"type": "Feature", "geometry": square(),
                "properties": {"code": "B", "plan_id": 999}}, 422, "properties.plan_id",
     "n'existe pas"),
    ("zoning", {"type": "Feature", "geometry": square(X0 + 1e6),
                "properties": {"code": "B", "plan_id": 1}}, 422, "geometry",
     "hors du territoire"),
    ("zoning", {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[
        [X0, Y0], [X0 + 10, Y0 + 10], [X0 + 10, Y0], [X0, Y0 + 10], [X0, Y0]]]},
                "properties": {"code": "B", "plan_id": 1}}, 422, "geometry",
     "non valide selon PostGIS (Self-intersection"),
])
def test_a_refused_body_says_which_field_and_why(
        client: TestClient, keys: dict[str, str], edit_database_url: str, layer: str,
        body: dict[str, Any], status: int, field: str, words: str) -> None:
    geometry = body.get("geometry") or {}
    in_merchich = any(abs(c) > 1000 for c in _flat(geometry.get("coordinates")))
    headers = {"Content-Crs": EPSG_26191} if in_merchich else {}
    before = sql(edit_database_url, "SELECT count(*) FROM changesets")
    response = client.post(ITEMS.format(layer), json=body, headers=auth(keys["editor"],
                                                                        **headers))
    assert response.status_code == status, response.text
    assert response.json()["field"] == field
    assert words in response.json()["description"]
    assert sql(edit_database_url, "SELECT count(*) FROM changesets") == before


def _flat(node: Any) -> list[float]:
    if isinstance(node, list):
        return [v for child in node for v in _flat(child)]
    return [node] if isinstance(node, int | float) else []


def test_a_zone_code_missing_from_its_plan_is_refused_with_the_valid_codes(
        client: TestClient, keys: dict[str, str], edit_database_url: str) -> None:
    response = client.post(ITEMS.format("zoning"), json=zone(edit_database_url, properties={
        "code": "ZZ", "plan_id": 3}), headers=auth(keys["editor"], **{"Accept-Language": "en"}))
    assert response.status_code == 422
    codes = ", ".join(zone_codes(edit_database_url, 3))
    assert response.json() == {
        "code": "InvalidParameterValue", "status": 422, "field": "properties.code",
        "description": f"properties.code: 'ZZ' is not defined in 'zone_rules' for plan_id = 3; "
                       f"allowed values: {codes}"}


def test_too_many_vertices_are_refused_before_the_database(
        client: TestClient, keys: dict[str, str]) -> None:
    ring = [[-7.6 + i * 1e-7, 33.5] for i in range(50_001)] + [[-7.6, 33.51], [-7.6, 33.5]]
    response = client.post(ITEMS.format("zoning"), json={
        "type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"code": "B", "plan_id": 1}}, headers=auth(keys["editor"]))
    assert response.status_code == 422
    assert "au plus 50000" in response.json()["description"]


def test_nothing_is_half_written_when_a_check_fails_after_the_row_is_locked(
        client: TestClient, keys: dict[str, str], edit_database_url: str) -> None:
    fid, etag = created(client, keys["editor"], "zoning", zone(edit_database_url))
    before = sql(edit_database_url, "SELECT (SELECT count(*) FROM changesets), "
                                    "(SELECT count(*) FROM zoning_history)")
    response = client.patch(f"{ITEMS.format('zoning')}/{fid}",
                            json={"properties": {"plan_id": 3}, "geometry": square(X0 + 1e6)},
                            headers=auth(keys["editor"], **{"If-Match": etag,
                                                            "Content-Crs": EPSG_26191}))
    assert response.status_code == 422
    assert sql(edit_database_url, "SELECT version, plan_id FROM zoning WHERE id = %s",
               fid) == [(1, 1)]
    assert sql(edit_database_url, "SELECT (SELECT count(*) FROM changesets), "
                                  "(SELECT count(*) FROM zoning_history)") == before


def test_a_taken_land_title_is_a_409_and_leaves_no_trace(
        client: TestClient, keys: dict[str, str], edit_database_url: str) -> None:
    taken = sql(edit_database_url, "SELECT ref FROM parcels WHERE id = 1")[0][0]
    before = sql(edit_database_url, "SELECT count(*) FROM changesets")
    response = client.post(ITEMS.format("parcels"), json={
        "type": "Feature", "geometry": square(X0 + 900),
        "properties": {"ref": taken.lower().replace(" ", "")}},
        headers=auth(keys["editor"], **{"Content-Crs": EPSG_26191}))
    assert response.status_code == 409
    assert response.json()["description"].startswith("properties.ref : une autre entité")
    assert sql(edit_database_url, "SELECT count(*) FROM changesets") == before


def test_a_plan_that_zones_still_refer_to_is_not_deleted(
        client: TestClient, keys: dict[str, str], edit_database_url: str) -> None:
    response = client.delete(f"{ITEMS.format('plans')}/1",
                             headers=auth(keys["editor"], **{"If-Match": "*"}))
    assert response.status_code == 409
    assert "encore référencée par" in response.json()["description"]
    assert "zoning" in response.json()["description"]
    assert sql(edit_database_url, "SELECT count(*) FROM plans WHERE id = 1") == [(1,)]


# Concurrency: the lock and the version decide, on the real server


async def test_two_patches_with_the_same_if_match_one_wins_the_other_gets_412(
        live: str, keys: dict[str, str], edit_database_url: str) -> None:
    codes = zone_codes(edit_database_url, 1)
    async with httpx.AsyncClient(base_url=live, timeout=30) as http:
        for round_ in range(5):
            post = await http.post(ITEMS.format("zoning"), json=zone(edit_database_url),
                                   headers=auth(keys["editor"]))
            path = post.headers["location"].removeprefix(live)
            answers = await asyncio.gather(*(
                http.patch(path, json={"properties": {"code": codes[i + 1]}},
                           headers=auth(keys["editor"], **{"If-Match": '"v1"'}))
                for i in range(2)))
            assert sorted(a.status_code for a in answers) == [200, 412], round_
            loser = next(a for a in answers if a.status_code == 412)
            assert loser.headers["etag"] == '"v2"'
            winner = next(a for a in answers if a.status_code == 200)
            assert (await http.get(path)).json()["properties"]["code"] == \
                winner.json()["properties"]["code"]


async def test_fifty_writers_on_different_features_all_succeed(
        live: str, keys: dict[str, str], edit_database_url: str) -> None:
    ids = [r[0] for r in sql(edit_database_url, "SELECT id FROM parcels WHERE version = 1 "
                                                "ORDER BY id DESC LIMIT 50")]
    async with httpx.AsyncClient(base_url=live, timeout=60) as http:
        answers = await asyncio.gather(*(
            http.patch(f"{ITEMS.format('parcels')}/{fid}",
                       json={"properties": {"ref": f"TF {900000 + fid}/Z"}},
                       headers=auth(keys["parcels_editor"], **{"If-Match": '"v1"'}))
            for fid in ids))
    assert [a.status_code for a in answers] == [200] * 50
    assert {a.headers["etag"] for a in answers} == {'"v2"'}
    assert sql(edit_database_url, "SELECT DISTINCT version FROM parcels WHERE id = ANY(%s)",
               ids) == [(2,)]


# Real clients: OWSLib and the requests QGIS sends


def test_owslib_creates_updates_and_deletes_a_feature(
        live: str, keys: dict[str, str], edit_database_url: str) -> None:
    from owslib.ogcapi import REQUEST_HEADERS
    from owslib.ogcapi.features import Features

    api = Features(f"{live}/ogc")
    # OWSLib keeps its headers in a module-level dict: give this client its own copy.
    api.headers = {**REQUEST_HEADERS, "Authorization": f"Bearer {keys['editor']}"}
    feature = servitude(zone(edit_database_url)["geometry"])  # in CRS84, the default
    assert api.collection_item_create("servitudes", feature) is True
    location = api.response_headers["Location"]
    fid = location.rsplit("/", 1)[1]
    api.headers["If-Match"] = api.response_headers["ETag"]
    feature["properties"]["name"] = "Cône d'envol (révisé)"
    assert api.collection_item_update("servitudes", fid, feature) is True
    assert api.collection_item("servitudes", fid)["properties"]["name"] == \
        "Cône d'envol (révisé)"
    api.headers["If-Match"] = api.response_headers["ETag"]
    assert api.collection_item_delete("servitudes", fid) is True
    assert sql(edit_database_url, "SELECT count(*) FROM servitudes WHERE id = %s",
               int(fid)) == [(0,)]


def qgis_session(base: str, key: str) -> httpx.Client:
    """An HTTP client sending what QGIS's OAPIF provider sends (its authentication
    configuration adds the Authorization header to every request)."""
    return httpx.Client(base_url=base, timeout=30, headers={
        "User-Agent": "Mozilla/5.0 QGIS/34400/Linux", "Authorization": f"Bearer {key}"})


def qgis_edits(http: httpx.Client, items: str, ref: str) -> dict[str, httpx.Response]:
    """The requests of src/providers/wfs/oapif: OPTIONS on the items then on the first one
    (capabilities), POST of a new feature in the layer's CRS (its storageCrs) without id nor
    bbox, GET of it, PATCH of an attribute then of the geometry (PATCH is offered, so it is
    used), DELETE — no If-Match anywhere, as QGIS sends none."""
    answers: dict[str, httpx.Response] = {}
    first = http.get(f"{items}?limit=10", headers={"Accept": "application/geo+json, "
                                                              "application/json"})
    answers["options_items"] = http.options(items)
    answers["options_item"] = http.options(f"{items}/{first.json()['features'][0]['id']}")
    ring = [[X0 + 1500, Y0], [X0 + 1520, Y0], [X0 + 1520, Y0 + 20], [X0 + 1500, Y0]]
    body = ('{"geometry":{"coordinates":[[' + ",".join(f"[{x},{y}]" for x, y in ring)
            + ']],"type":"Polygon"},"properties":{"area_m2":null,"ref":"' + ref + '",'
              '"updated_at":null},"type":"Feature"}')
    answers["post"] = http.post(items, content=body.encode(), headers={
        "Content-Type": "application/geo+json", "Content-Crs": EPSG_26191})
    location = answers["post"].headers.get("location", "")
    new_id = location[location.rfind("/items/") + len("/items/"):]
    answers["get"] = http.get(f"{items}/{new_id}", headers={
        "Accept": "application/geo+json, application/json"})
    answers["patch_attributes"] = http.patch(
        f"{items}/{new_id}", content=('{"properties":{"ref":"' + ref + ' bis"}}').encode(),
        headers={"Content-Type": "application/merge-patch+json"})
    moved = [[x + 5, y] for x, y in ring]
    answers["patch_geometry"] = http.patch(
        f"{items}/{new_id}", content=('{"geometry":{"coordinates":[[' + ",".join(
            f"[{x},{y}]" for x, y in moved) + ']],"type":"Polygon"}}').encode(),
        headers={"Content-Type": "application/merge-patch+json", "Content-Crs": EPSG_26191})
    answers["delete"] = http.delete(f"{items}/{new_id}")
    return answers


def test_qgis_editing_is_offered_creates_and_is_asked_for_if_match_on_changes(
        live: str, keys: dict[str, str]) -> None:
    with qgis_session(live, keys["parcels_editor"]) as http:
        answers = qgis_edits(http, "/ogc/collections/parcels/items", "TF 880001/C")
    assert "POST" in answers["options_items"].headers["allow"]
    assert {"PUT", "PATCH", "DELETE"} <= set(answers["options_item"].headers["allow"]
                                            .split(", "))
    assert answers["post"].status_code == 201
    assert answers["get"].json()["properties"]["ref"] == "TF 880001/C"
    for name in ("patch_attributes", "patch_geometry", "delete"):
        assert answers[name].status_code == 428, name


def test_qgis_editing_works_when_the_agency_makes_if_match_optional(
        live_if_match_optional: str, keys: dict[str, str], edit_database_url: str) -> None:
    with qgis_session(live_if_match_optional, keys["parcels_editor"]) as http:
        answers = qgis_edits(http, "/ogc/collections/parcels/items", "TF 880002/C")
    assert [answers[n].status_code for n in ("post", "get", "patch_attributes",
                                             "patch_geometry", "delete")] == \
        [201, 200, 200, 200, 204]
    assert answers["patch_geometry"].json()["properties"]["ref"] == "TF 880002/C bis"
    fid = int(answers["get"].json()["id"])
    history = sql(edit_database_url, "SELECT ended_op, ended_by FROM parcels_history "
                                     "WHERE id = %s ORDER BY version", fid)
    assert history == [("update", "key:cadastre"), ("update", "key:cadastre"),
                       ("delete", "key:cadastre")]


# What the API says about itself


def test_conformance_declares_part_4(client: TestClient) -> None:
    classes = client.get("/ogc/conformance").json()["conformsTo"]
    for name in ("create-replace-delete", "update", "features", "optimistic-locking-etags"):
        assert f"http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/{name}" in classes


def test_the_api_documents_the_write_operations_of_editable_layers_only(
        client: TestClient) -> None:
    paths = client.get("/ogc/api?f=json").json()["paths"]
    assert {"get", "post"} <= set(paths["/collections/zoning/items"])
    assert {"get", "put", "patch", "delete"} <= set(paths["/collections/zoning/items/{featureId}"])
    assert set(paths["/collections/prefectures/items"]) == {"get"}
    patch = paths["/collections/zoning/items/{featureId}"]["patch"]
    assert "application/merge-patch+json" in patch["requestBody"]["content"]
    assert {p["name"] for p in patch["parameters"]} >= {"featureId", "If-Match", "Content-Crs"}
    service = client.get("/openapi.json").json()["paths"]
    item = service["/ogc/collections/{collection_id}/items/{feature_id}"]
    assert {"get", "put", "patch", "delete"} <= set(item)
    assert "application/geo+json" in item["put"]["requestBody"]["content"]
    assert {"201", "401", "403", "415", "422"} <= set(
        service["/ogc/collections/{collection_id}/items"]["post"]["responses"])


def test_the_schema_marks_read_only_properties_and_enumerations(client: TestClient) -> None:
    parcels = client.get("/ogc/collections/parcels/schema").json()["properties"]
    assert parcels["area_m2"]["readOnly"] is True and "readOnly" not in parcels["ref"]
    plans = client.get("/ogc/collections/plans/schema").json()
    assert plans["properties"]["status"]["enum"][0] == "en vigueur"
    assert {"ref", "name", "status"} <= set(plans["required"])


# Whatever the body, a client mistake is a 4xx, never a 500


NUMBERS = (st.floats(min_value=296_000, max_value=298_000) | st.integers(-10**20, 10**20)
           | st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([-7.6, 33.59]))
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)
GEOMETRIES = st.fixed_dictionaries({
    "type": st.sampled_from(["Point", "LineString", "Polygon", "MultiPolygon",
                             "MultiLineString", "GeometryCollection", "Circle"]),
    "coordinates": st.recursive(st.lists(NUMBERS, min_size=1, max_size=4),
                                lambda inner: st.lists(inner, max_size=5), max_leaves=30),
}) | JSON_VALUES
PROPERTIES = st.fixed_dictionaries({}, optional={
    "code": st.sampled_from(["B", "C", "ZZ", "B" * 40]) | JSON_VALUES,
    "plan_id": st.integers(-3, 12) | JSON_VALUES, "ref": st.text(max_size=30) | JSON_VALUES,
    "status": st.sampled_from(["en vigueur", "abrogé"]) | JSON_VALUES,
    "approval_date": st.sampled_from(["2020-02-30", "2020-01-01", "1/1/2020"]) | JSON_VALUES,
    "area_m2": JSON_VALUES, "couleur": JSON_VALUES})
BODIES = st.fixed_dictionaries(
    {"type": st.one_of(st.just("Feature"), st.just("Feature"), JSON_VALUES),
     "geometry": GEOMETRIES, "properties": st.one_of(PROPERTIES, PROPERTIES, JSON_VALUES)},
    optional={"id": JSON_VALUES, "place": GEOMETRIES, "coordRefSys": JSON_VALUES})


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(layer=st.sampled_from(["zoning", "parcels", "plans"]), body=BODIES | JSON_VALUES,
       method=st.sampled_from(["POST", "PATCH", "PUT"]),
       media=st.sampled_from(["application/geo+json", "application/fg+json",
                              "application/merge-patch+json", "text/plain"]),
       crs=st.sampled_from([None, EPSG_26191, f"<{EPSG_4326}>", "EPSG:2154", "<garbage"]))
def test_any_body_is_answered_with_a_client_error_or_written_never_a_server_error(
        client: TestClient, keys: dict[str, str], layer: str, body: Any, method: str,
        media: str, crs: str | None) -> None:
    headers = auth(keys["editor"], **{"Content-Type": media, "If-Match": "*"})
    if crs is not None:
        headers["Content-Crs"] = crs
    path = ITEMS.format(layer) + ("" if method == "POST" else "/2")
    response = client.request(method, path, content=json.dumps(body), headers=headers)
    assert response.status_code in (200, 201, 400, 409, 415, 422), response.text
    if response.status_code >= 400:
        error = response.json()
        assert error["code"] and error["description"]
        assert "asyncpg" not in response.text and "Traceback" not in response.text


# A layer of properties alone (zone_rules, once the registry allows a layer without geometry)


def rules_layer() -> Layer:
    """zone_rules as a registry layer without geometry (built without the registry's checks,
    which still ask every layer for a geometry type)."""
    def prop(name: str, kind: str = "string", required: bool = False) -> LayerProperty:
        return LayerProperty(name=name, type=kind, title=name, required=required)  # type: ignore[arg-type]

    return Layer.model_construct(
        id="zone_rules", title="Règles de zone", description="Rules per zone code",
        table="zone_rules", id_column="id", geometry_column="geom", geometry_type=None,
        license="ODbL-1.0", editable=True, temporal=None, properties=[
            prop("plan_id", "integer", True), prop("code", required=True),
            prop("label", required=True), prop("category", required=True),
            prop("affectation", required=True), prop("uses_allowed", "array"),
            prop("cos", "number"), prop("max_levels", "integer"),
            prop("article", required=True)])


async def test_a_layer_without_geometry_is_edited_by_its_properties_alone(
        writer_url: str) -> None:
    layer = rules_layer()
    pool = await asyncpg.create_pool(writer_url, min_size=1, max_size=2)
    try:
        info = await table_info(pool, "zone_rules")
        context = EditContext(layer, info, "key:reglement", lambda table: table)
        rule = {"type": "Feature", "geometry": None, "properties": {
            "plan_id": 1, "code": "ZX", "label": "Zone d'essai", "category": "habitat",
            "affectation": "habitat", "uses_allowed": ["logement"], "cos": 0.4,
            "article": "Article 99"}}
        with pytest.raises(InvalidBody) as refused:
            read_edit({**rule, "geometry": square()}, layer, info, "create", False, None)
        assert refused.value.field == "geometry" and "n'a pas de géométrie" in \
            refused.value.message
        written = await edits.create(pool, context, read_edit(rule, layer, info, "create",
                                                              False, None))
        feature = json.loads(written.feature)
        assert feature["geometry"] is None and feature["properties"]["uses_allowed"] == \
            ["logement"] and written.version == 1
        patch = read_edit({"properties": {"cos": 0.5}}, layer, info, "patch", False, None)
        changed = await edits.change(pool, context, written.fid, patch, frozenset({1}),
                                     replace=False)
        assert json.loads(changed.feature)["properties"]["cos"] == 0.5 and changed.version == 2
        too_high = read_edit({"properties": {"cos": 2}}, layer, info, "patch", False, None)
        with pytest.raises(InvalidBody) as rule_refused:
            await edits.change(pool, context, written.fid, too_high, None, replace=False)
        assert rule_refused.value.field == "properties.cos"
        with pytest.raises(Conflict):  # (plan_id, code) is unique
            await edits.create(pool, context, read_edit(rule, layer, info, "create", False,
                                                        None))
        await edits.delete(pool, context, written.fid, frozenset({2}))
    finally:
        await pool.close()


# Zone rules are data too: edited over the API, every answer that depends on them changes


def _plot_in_a_zone(url: str) -> tuple[str, int, str, float]:
    """A plot wholly inside one zone whose rule has a COS: (ref, rule id, code, cos)."""
    [row] = sql(url, """
        SELECT p.ref, r.id, r.code, r.cos FROM parcels p
        JOIN zoning z ON ST_CoveredBy(p.geom, z.geom)
        JOIN zone_rules r ON r.plan_id = z.plan_id AND r.code = z.code
        JOIN plans pl ON pl.id = z.plan_id AND pl.status = 'en vigueur'
        WHERE r.cos IS NOT NULL ORDER BY p.id LIMIT 1""")
    return str(row[0]), int(row[1]), str(row[2]), float(row[3])


def test_a_zone_rule_edited_over_the_api_changes_the_rules_answer_and_the_note(
        client: TestClient, keys: dict[str, str], edit_database_url: str) -> None:
    ref, rule_id, code, cos = _plot_in_a_zone(edit_database_url)
    item = f"{ITEMS.format('zone_rules')}/{rule_id}"
    before = client.get("/rules", params={"parcel": ref}).json()
    [zone_before] = [z for z in before["zones"] if z["rules"]["code"] == code]
    assert zone_before["rules"]["cos"] == cos
    current = client.get(item)
    assert current.status_code == 200 and current.json()["geometry"] is None
    new_cos = round(cos / 2, 3)
    patched = client.patch(item, json={"properties": {"cos": new_cos}}, headers=auth(
        keys["editor"], **MERGE_PATCH, **{"If-Match": current.headers["etag"]}))
    assert patched.status_code == 200, patched.text
    assert patched.json()["properties"]["cos"] == new_cos
    after = client.get("/rules", params={"parcel": ref}).json()
    [zone_after] = [z for z in after["zones"] if z["rules"]["code"] == code]
    assert zone_after["rules"]["cos"] == new_cos
    assert after["data_version"] != before["data_version"]
    note = client.get("/rules/note", params={"parcel": ref, "f": "html"})
    assert note.status_code == 200 and after["data_version"] in note.text
    history = client.get(f"{item}/history").json()["versions"]
    assert history[0]["changed_by"] == "key:urbanisme-sig"
    assert history[0]["feature"]["properties"]["cos"] == new_cos


def test_a_zone_rule_is_created_with_its_required_fields_and_a_bad_one_refused(
        client: TestClient, keys: dict[str, str], edit_database_url: str) -> None:
    rule = {"type": "Feature", "geometry": None, "properties": {
        "plan_id": 1, "code": "ZT", "label": "Zone de test", "category": "habitat",
        "affectation": "Habitat", "article": "Article ZT.", "cos": 0.4, "cus": 1.2,
        "max_levels": 3, "uses_allowed": ["habitat"]}}
    made = client.post(ITEMS.format("zone_rules"), json=rule, headers=auth(keys["editor"]))
    assert made.status_code == 201, made.text
    assert made.headers["location"].endswith(f"/ogc/collections/zone_rules/items/"
                                             f"{made.json()['id']}")
    found = client.get(ITEMS.format("zone_rules"), params={"filter": "code = 'ZT'"}).json()
    assert [f["properties"]["cos"] for f in found["features"]] == [0.4]
    bad = client.post(ITEMS.format("zone_rules"), json={**rule, "properties": {
        **rule["properties"], "code": "ZU", "cos": "beaucoup"}}, headers=auth(keys["editor"]))
    assert bad.status_code == 422 and "cos" in bad.json()["description"]
    with_geometry = client.post(ITEMS.format("zone_rules"), json={
        **rule, "geometry": square()}, headers=auth(keys["editor"]))
    assert with_geometry.status_code == 422
