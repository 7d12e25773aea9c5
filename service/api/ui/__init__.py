"""The browser UI: ``GET /`` and its assets under ``/ui/`` — plain HTML, CSS and JavaScript
shipped in the package (no CDN, no build step), talking to the same public API as any client
(``GET /v1/models``, ``POST /v1/ocr``). Only the files of this folder are served, by name, with
a strict Content-Security-Policy: the page runs its own script and nothing else."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from starlette.exceptions import HTTPException

HERE = Path(__file__).resolve().parent
PREFIX = "/ui/"
MEDIA_TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript"}
ASSETS = {p.name: p for p in HERE.iterdir() if p.suffix in MEDIA_TYPES}
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


def _file(name: str) -> FileResponse:
    path = ASSETS.get(name)
    if path is None:
        raise HTTPException(404, f"no UI file {name!r}")
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=HEADERS)


@router.get("/")
async def page() -> FileResponse:
    return _file("index.html")


@router.get(PREFIX + "{name}")
async def asset(name: str) -> FileResponse:
    return _file(name)
