"""Mount e-renseignement on an app: its routes, its stylesheet, its long-lived objects."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from geoportal.renseignement import admin, public, staff
from geoportal.renseignement.pages import HERE, STATIC_PATH
from geoportal.renseignement.service import Room


def install(app: FastAPI) -> None:
    """Routes (public, sign-in, staff), static files and the room's services."""
    app.state.services.provide(Room.from_settings(app.state.settings))
    app.include_router(public.router)
    app.include_router(staff.router)
    app.include_router(admin.router)
    app.mount(STATIC_PATH, StaticFiles(directory=HERE / "static"), name="renseignement-static")
