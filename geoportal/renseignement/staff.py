"""Staff sign-in for the browser back-office: the API key pasted once, kept in an HttpOnly,
SameSite=Strict cookie scoped to /renseignement (``geoportal.core.auth`` reads it and checks
the anti-CSRF token of every state-changing form); pages redirect to the sign-in page."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from geoportal.core.auth import (
    SESSION_COOKIE,
    Authenticator,
    Identity,
    bearer_scheme,
    csrf_token,
    current_identity,
    require_role,
)
from geoportal.core.services import services_of
from geoportal.deps import get_settings
from geoportal.errors import Forbidden, GeoportalError, Unauthorized
from geoportal.renseignement.common import form_of, language
from geoportal.renseignement.pages import render, wants_html
from geoportal.renseignement.workflow import STAFF_ROLES

router = APIRouter(prefix="/renseignement", include_in_schema=False)
COOKIE_PATH = "/renseignement"
SESSION_S = 8 * 3600  # one working day
HOME = "/renseignement/admin"


async def staff(request: Request, roles: tuple[str, ...] = STAFF_ROLES) -> Identity:
    """The signed-in staff member (bearer or session cookie) with one of ``roles``."""
    identity = await current_identity(request, await bearer_scheme(request))
    return await require_role(*roles)(request, identity)  # type: ignore[arg-type]


async def staff_page(request: Request, roles: tuple[str, ...] = STAFF_ROLES
                     ) -> Identity | Response:
    """``staff``, but a browser is sent to the sign-in page (401) or told in a page (403)."""
    try:
        return await staff(request, roles)
    except Unauthorized:
        if not wants_html(request):
            raise
        target = quote(request.url.path, safe="/")
        return RedirectResponse(f"/renseignement/connexion?next={target}", status_code=303)
    except Forbidden as exc:
        if not wants_html(request):
            raise
        return render("message.html", 403, title="Accès refusé",
                      message=exc.text(language(request)), back=HOME)


def session_csrf(request: Request) -> str:
    """The anti-CSRF token of the browser session, for the forms of a page ("" without)."""
    credential = request.cookies.get(SESSION_COOKIE)
    return csrf_token(credential) if credential else ""


def _safe_next(target: object) -> str:
    """Where to go after signing in: a page of this room only (no open redirect)."""
    if isinstance(target, str) and target.startswith("/renseignement/") \
            and not target.startswith("//") and "\\" not in target:
        return target
    return HOME


@router.get("/connexion")
async def sign_in_page(request: Request) -> Response:
    """The sign-in form."""
    return render("signin.html", next=_safe_next(request.query_params.get("next")))


@router.post("/connexion")
async def sign_in(request: Request) -> Response:
    """Check the pasted key (staff roles only) and keep it in the session cookie."""
    form = await form_of(request)
    key, target = form.get("key"), _safe_next(form.get("next"))
    try:
        if not isinstance(key, str) or not key.strip():
            raise Unauthorized("Collez votre clé d'accès.", en="Paste your access key.")
        identity = await services_of(request).get(Authenticator).authenticate(request,
                                                                               key.strip())
        await require_role(*STAFF_ROLES)(request, identity)  # type: ignore[arg-type]
    except GeoportalError as exc:
        refusal = render("signin.html", exc.status_code, next=target,
                          error=exc.text(language(request)))
        if exc.retry_after:
            refusal.headers["Retry-After"] = str(exc.retry_after)
        return refusal
    response: Response = RedirectResponse(target, status_code=303)
    secure = request.url.scheme == "https" or (get_settings(request).public_url or "") \
        .startswith("https://")
    response.set_cookie(SESSION_COOKIE, key.strip(), max_age=SESSION_S, path=COOKIE_PATH,
                        httponly=True, samesite="strict", secure=secure)
    return response


@router.post("/deconnexion")
async def sign_out(request: Request) -> Response:
    """End the session (the form carries the anti-CSRF token)."""
    await staff(request)
    response = RedirectResponse("/renseignement/connexion", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH, httponly=True,
                           samesite="strict")
    return response
