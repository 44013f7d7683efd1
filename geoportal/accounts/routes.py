"""``GET /auth/whoami``: who the credentials say the caller is."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel

from geoportal.core.auth import IdentityDep

router = APIRouter(prefix="/auth", tags=["accounts"])


class WhoAmI(BaseModel):
    """The verified caller: its name (key) or subject (JWT), role and layers."""

    subject: str
    role: str
    layers: list[str] | None  # None: every layer (editor) or not layer-bound (other roles)
    method: str
    key_prefix: str | None
    actor: str


@router.get("/whoami", summary="Who am I (401 without valid credentials)")
async def whoami(identity: IdentityDep, response: Response) -> WhoAmI:
    """The identity behind ``Authorization: Bearer``, as the service will record it."""
    response.headers["Cache-Control"] = "no-store"
    return WhoAmI(subject=identity.subject, role=identity.role,
                  layers=list(identity.layers) if identity.layers is not None else None,
                  method=identity.method, key_prefix=identity.key_prefix, actor=identity.actor)
