"""The decorator every API view wears: methods, authentication, permissions, and JSON for every error."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from redis import RedisError

from ..conf import app_settings
from .auth import authenticate, require_permission
from .errors import ApiError, error_response

logger = logging.getLogger("jobs_app")

View = Callable[..., HttpResponse]


def endpoint(*methods: str, permission: str | None = None, public_setting: str | None = None) -> Callable[[View], View]:
    """Wrap an API view.

    `methods`: the HTTP methods it answers (others get 405). `permission`: a permission
    the caller also needs. `public_setting`: the name of a jobs_app setting that, when
    true, lets anyone call the view without credentials.
    CSRF is checked by `authenticate` for session users only, so the view is exempt
    from the middleware's check (which would answer with an HTML page).
    """

    def decorate(view: View) -> View:
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            try:
                if request.method not in methods:
                    raise ApiError(405, f"Method {request.method} not allowed", headers={"Allow": ", ".join(methods)})
                if not (public_setting and getattr(app_settings, public_setting)):
                    user = authenticate(request)
                    if permission:
                        require_permission(user, permission)
                return view(request, *args, **kwargs)
            except ApiError as error:
                return error_response(error.status, error.message, error.headers)
            except Http404 as error:
                return error_response(404, str(error) or "Not found")
            except SuspiciousOperation as error:
                # For example a request body larger than DATA_UPLOAD_MAX_MEMORY_SIZE.
                return error_response(400, str(error) or "Bad request")
            except RedisError as error:
                logger.warning("API %s %s: Redis unreachable (%s)", request.method, request.path, error)
                return error_response(503, f"Redis is unreachable: {error}")
            except Exception:
                # Last resort only: every input is validated before it gets here.
                logger.exception("API %s %s failed", request.method, request.path)
                return error_response(500, "Internal server error")

        return wrapper

    return decorate
