"""Route contracts are declared once: what /openapi.json says is what is served."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.testclient import TestClient

from geoportal.core.routing import DirectRoute
from geoportal.rules import routes as rules_routes

ITEMS = "/ogc/collections/{collection_id}/items"


def _parameters(openapi: dict, path: str) -> set[str]:
    return {p["name"] for p in openapi["paths"][path]["get"].get("parameters", [])}


def test_openapi_json_lists_the_items_parameters_of_the_ogc_api(demo_client: TestClient) -> None:
    openapi = demo_client.get("/openapi.json").json()
    assert {"collection_id", "bbox", "bbox-crs", "limit", "offset", "filter", "filter-lang",
            "filter-crs", "crs", "sortby", "properties", "datetime", "at", "f"} \
        <= _parameters(openapi, ITEMS)
    assert {"feature_id", "crs", "properties", "at"} \
        <= _parameters(openapi, ITEMS + "/{feature_id}")
    assert {"limit", "offset", "crs"} <= _parameters(openapi, ITEMS + "/{feature_id}/history")
    assert "f" in _parameters(openapi, "/ogc/collections")


def test_openapi_json_and_ogc_api_describe_the_items_parameters_alike(
        demo_client: TestClient) -> None:
    fastapi_doc = demo_client.get("/openapi.json").json()
    ogc_doc = demo_client.get("/ogc/api?f=json").json()
    declared = {p["name"]: p for p in fastapi_doc["paths"][ITEMS]["get"]["parameters"]}
    for name, parameter in ogc_doc["components"]["parameters"].items():
        if name in declared:
            assert declared[name] == parameter, name


def test_get_rules_is_declared_once_and_documented(demo_client: TestClient) -> None:
    declared = [r for r in rules_routes.router.routes
                if getattr(r, "path", None) == "/rules" and "GET" in getattr(r, "methods", ())]
    assert len(declared) == 1 and isinstance(declared[0], DirectRoute)
    plain = [r for r in demo_client.app.router.routes  # type: ignore[attr-defined]
             if getattr(r, "path", None) == "/rules"]
    assert plain == []  # no second, undocumented route ahead of the router
    assert demo_client.get("/rules", params={"parcel": "TF 1/C"}).status_code in (200, 404)
    openapi = demo_client.get("/openapi.json").json()
    assert {"lon", "lat", "parcel", "at"} <= _parameters(openapi, "/rules")


def _deny() -> None:
    raise HTTPException(status_code=403, detail="no")


async def _answer(request: Request) -> Response:
    return Response("fast")


def test_a_dependency_added_to_the_router_or_its_inclusion_applies_to_a_direct_route() -> None:
    open_router, guarded, included = APIRouter(), APIRouter(dependencies=[Depends(_deny)]), \
        APIRouter()
    for router, path in ((open_router, "/open"), (guarded, "/guarded"), (included, "/inc")):
        router.add_api_route(path, _answer, methods=["GET"], route_class_override=DirectRoute)
    app = FastAPI()
    app.include_router(open_router)
    app.include_router(guarded)
    app.include_router(included, dependencies=[Depends(_deny)])
    client = TestClient(app)
    assert client.get("/open").text == "fast"
    assert client.get("/guarded").status_code == 403
    assert client.get("/inc").status_code == 403
    assert "/guarded" in client.get("/openapi.json").json()["paths"]
