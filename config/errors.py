"""One application error type and one JSON error shape: {"message": ..., "extra": {...}}."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis.exceptions
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class ApplicationError(Exception):
    """A failure we expect and can explain to a person; services raise it, the API renders it."""

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(
        self,
        message: str,
        *,
        extra: dict[str, Any] | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
        if status_code is not None:
            self.status_code = status_code
        self.headers = headers or {}


def error_body(message: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"message": message, "extra": extra or {}}


# Redis (cache for rate limits, broker) briefly away, e.g. while it restarts: the client should come
# back later, so the answer is 503 with Retry-After, never a 500.
REDIS_UNAVAILABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
REDIS_RETRY_AFTER_SECONDS = 5


def service_unavailable() -> ApplicationError:
    return ApplicationError(
        _("A service this request needs is briefly unavailable; please retry."),
        extra={"service": "redis"},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(REDIS_RETRY_AFTER_SECONDS)},
    )


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, REDIS_UNAVAILABLE):
        exc = service_unavailable()
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.message, exc.extra), status=exc.status_code, headers=exc.headers)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body(_("The request is not valid."), {"fields": exc.detail})
    elif isinstance(exc, exceptions.APIException):
        detail = exc.detail
        message = str(detail) if not isinstance(detail, dict | list) else _("The request failed.")
        extra = {} if not isinstance(detail, dict | list) else {"detail": detail}
        response.data = error_body(message, extra)
    return response


class ServiceUnavailableMiddleware:
    """The same 503 for pages (outside DRF) that hit Redis while it is away."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, REDIS_UNAVAILABLE):
            return None
        error = service_unavailable()
        response = JsonResponse(error_body(error.message, error.extra), status=error.status_code)
        for header, value in error.headers.items():
            response[header] = value
        return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """URLs that match no route: under /api/ the one JSON error shape (a client parsing JSON must not
    get an HTML page for a malformed id), elsewhere Django's own 404 page."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(_("Not found.")), status=status.HTTP_404_NOT_FOUND)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)
