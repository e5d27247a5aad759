"""One-shot messages for the page a form redirects to ("strategy saved", "unknown operator").

The message travels in a short-lived cookie set by this server, never in the URL: a link
someone sends cannot make the console print text of their choosing (`?error=Call +1 …`).
The page that shows it clears it (the web layer's headers middleware deletes the cookie on
every HTML page that was rendered while it was set).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from fastapi.responses import RedirectResponse

if TYPE_CHECKING:
    from starlette.requests import Request

COOKIE = "selfheal_flash"
MAX_CHARS = 500


def back(path: str, *, error: Any = None, note: str | None = None) -> RedirectResponse:
    """A 303 to `path` that shows `error` (an exception or text) or `note` there once."""
    response = RedirectResponse(path, status_code=303)
    if error is not None or note:
        kind, text = ("error", str(error)) if error is not None else ("note", str(note))
        value = quote(json.dumps({kind: text[:MAX_CHARS]}), safe="")
        response.set_cookie(COOKIE, value, max_age=60, httponly=True, samesite="lax", path="/")
    return response


def read(request: Request) -> dict[str, str]:
    """{"error": …} or {"note": …} from the cookie; {} when there is none or it is garbled."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return {}
    try:
        data = json.loads(unquote(raw))
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: str(v)[:MAX_CHARS] for k, v in data.items() if k in ("error", "note")}
