"""The web page (``/``: search, click, "found it elsewhere") and the dashboard (``/dashboard``:
what the engine learned). Plain files of the project's own in ``service/web/``, under
``/web/``; every number they show comes from the API."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

WEB_DIR = Path(__file__).parent / "web"

router = APIRouter(include_in_schema=False)


def static_files() -> StaticFiles:
    """The page's scripts and style sheet, mounted at ``/web``."""
    return StaticFiles(directory=WEB_DIR)


@router.get("/")
def search_page() -> FileResponse:
    return FileResponse(WEB_DIR / "index.html", media_type="text/html")


@router.get("/dashboard")
def dashboard_page() -> FileResponse:
    return FileResponse(WEB_DIR / "dashboard.html", media_type="text/html")
