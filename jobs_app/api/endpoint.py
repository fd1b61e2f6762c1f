"""The decorator every API view wears: methods, authentication, permissions, and JSON for every error."""

from __future__ import annotations

import codecs
import functools
import logging
from collections.abc import Callable

from django.core.exceptions import SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from redis import RedisError

from ..conf import app_settings
from ..payload import safe_text
from .auth import VIEW_PERMISSION, authenticate, require_permission
from .errors import ApiError, error_response

logger = logging.getLogger("jobs_app")

View = Callable[..., HttpResponse]


def _read_request(request: HttpRequest) -> None:
    """Read and parse the body once, before anything else does (the CSRF check reads the form data).

    A body Django cannot parse (multipart without a boundary, an unknown charset, bytes the
    charset cannot decode, a broken stream) is the caller's mistake: ApiError 400, never a 500.
    """
    try:
        charset = request.content_params.get("charset") if request.content_params else None
        if charset:
            codecs.lookup(charset)
        request.body  # noqa: B018  (reads and keeps the body; too large is SuspiciousOperation, a 400)
        request.POST  # noqa: B018  (parses form and multipart bodies of a POST)
    except SuspiciousOperation:
        raise
    except Exception as error:
        raise ApiError(400, f"Malformed request: {safe_text(error)[:200] or type(error).__name__}") from None


def _head(response: HttpResponse) -> HttpResponse:
    """A GET's answer without its body, as HEAD asks; Content-Length still says the GET's length."""
    if not response.streaming:
        length = len(response.content)
        response.content = b""
        response["Content-Length"] = str(length)
    return response


def endpoint(
    *methods: str, permission: str | None = VIEW_PERMISSION, public_setting: str | None = None
) -> Callable[[View], View]:
    """Wrap an API view.

    `methods`: the HTTP methods it answers (others get 405); a GET view also answers HEAD,
    and every view answers OPTIONS with its Allow header. `permission`: a permission
    the caller also needs: by default the jobs view permission, as in the admin; None for
    none beyond being staff. `public_setting`: the name of a jobs_app setting that, when
    true, lets anyone call the view without credentials.
    CSRF is checked by `authenticate` for session users only, so the view is exempt
    from the middleware's check (which would answer with an HTML page).
    """
    allowed = (*methods, *(("HEAD",) if "GET" in methods else ()), "OPTIONS")
    allow = {"Allow": ", ".join(allowed)}

    def decorate(view: View) -> View:
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            try:
                if request.method not in allowed:
                    raise ApiError(405, f"Method {request.method} not allowed", headers=allow)
                _read_request(request)
                if request.method == "OPTIONS":
                    response = HttpResponse(headers=allow)
                    response["Content-Length"] = "0"
                    return response
                if not (public_setting and getattr(app_settings, public_setting)):
                    user = authenticate(request)
                    if permission:
                        require_permission(user, permission)
                response = view(request, *args, **kwargs)
            except ApiError as error:
                response = error_response(error.status, error.message, error.headers)
            except Http404 as error:
                response = error_response(404, str(error) or "Not found")
            except SuspiciousOperation as error:
                # For example a request body larger than DATA_UPLOAD_MAX_MEMORY_SIZE.
                response = error_response(400, str(error) or "Bad request")
            except RedisError as error:
                logger.warning("API %s %s: Redis unreachable (%s)", request.method, request.path, error)
                response = error_response(503, f"Redis is unreachable: {error}")
            except (OperationalError, InterfaceError) as error:
                # The database unreachable, or busy past its timeout: the caller may try again later.
                logger.warning("API %s %s: database unavailable (%s)", request.method, request.path, error)
                response = error_response(503, "The database is unavailable; try again later")
            except Exception:
                # Last resort only: every input is validated before it gets here.
                logger.exception("API %s %s failed", request.method, request.path)
                response = error_response(500, "Internal server error")
            return _head(response) if request.method == "HEAD" else response

        return wrapper

    return decorate
