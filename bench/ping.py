"""`/api/ping`: 204 and nothing behind it (no database, no Redis), the yardstick bench.upload and the
load script (tests.load) measure the upload endpoint against, on the same server and middleware.
Only the benchmarks' URLconf (bench.urls) routes it: the product never serves it."""

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

PING_PATH = "/api/ping"


@csrf_exempt
def ping(request: HttpRequest) -> HttpResponse:
    return HttpResponse(status=204)
