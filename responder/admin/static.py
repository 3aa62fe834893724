"""Static files under content-hashed names: ``admin.css`` is served as
``admin.<sha256[:12]>.css`` with a year-long immutable cache; any other
name is 404, so a page can never pick up a stale or unexpected file."""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

STATIC_DIR = Path(__file__).parent / "static"
SERVED = (".css", ".js", ".txt", ".svg", ".png", ".ico")


@dataclass(frozen=True)
class StaticFile:
    path: Path
    body: bytes
    media_type: str


class HashedStatic:
    def __init__(self, directory: Path = STATIC_DIR) -> None:
        self.names: dict[str, str] = {}
        self.files: dict[str, StaticFile] = {}
        for path in sorted(directory.iterdir()):
            if path.suffix not in SERVED:
                continue
            body = path.read_bytes()
            digest = hashlib.sha256(body).hexdigest()[:12]
            hashed = f"{path.stem}.{digest}{path.suffix}"
            media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if media.startswith("text/") or media.endswith("javascript"):
                media += "; charset=utf-8"
            self.names[path.name] = hashed
            self.files[hashed] = StaticFile(path, body, media)

    def url(self, name: str) -> str:
        return f"/admin/static/{self.names[name]}"

    async def serve(self, request: Request) -> Response:
        found = self.files.get(request.path_params["name"])
        if found is None:
            return PlainTextResponse("not found", status_code=404)
        return Response(
            found.body,
            media_type=found.media_type,
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )
