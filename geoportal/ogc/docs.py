"""Interactive API documentation with Swagger UI served from the package (no CDN)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from geoportal.errors import NotFound
from geoportal.ogc.html import environment

ASSETS_PATH = "/ogc/static/swagger-ui"
ASSETS = {"swagger-ui.css": "text/css", "swagger-ui-bundle.js": "text/javascript",
          "favicon-32x32.png": "image/png", "swagger-init.js": "text/javascript"}
OWN_ASSETS = Path(__file__).parent / "static"  # ours, beside Swagger UI's own files


def assets_folder() -> Path:
    """Where the swagger-ui-bundle package keeps Swagger UI."""
    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


def swagger_page(request: Request, spec_path: str, title: str) -> HTMLResponse:
    """A Swagger UI page for the OpenAPI document at ``spec_path``."""
    root = str(request.scope.get("root_path", "")).rstrip("/")
    page = environment().get_template("swagger.html").render(
        title=title, assets=f"{root}{ASSETS_PATH}", spec_url=f"{root}{spec_path}")
    return HTMLResponse(page)


def add_docs_routes(router: APIRouter) -> None:
    """``/docs`` (the whole service) and the Swagger UI assets."""

    @router.get("/docs", include_in_schema=False)
    async def service_docs(request: Request) -> HTMLResponse:
        """Swagger UI over the service's own OpenAPI document."""
        return swagger_page(request, request.app.openapi_url or "/openapi.json",
                            f"{request.app.title} — API")

    @router.get(f"{ASSETS_PATH}/{{name}}", include_in_schema=False)
    async def swagger_asset(name: str) -> FileResponse:
        """One of the few Swagger UI files the page loads."""
        if name not in ASSETS:
            raise NotFound(f"no asset {name!r}")
        folder = OWN_ASSETS if (OWN_ASSETS / name).is_file() else assets_folder()
        return FileResponse(folder / name, media_type=ASSETS[name],
                            headers={"Cache-Control": "public, max-age=86400"})
