"""The camera check: the tester's page sends one test snapshot and hears whether the workers could
use it. The face and quality checks run here, in the request; nothing is stored. It is the tester
API's endpoint (same token, limits and error shape), answered by the analysis that owns the checks."""

from __future__ import annotations

from django.utils import translation
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from inference.services import frame_quality_verdict
from sessions import selectors, services
from sessions.api import ERRORS, RAW_IMAGE_BODIES, TOKEN_HEADER_PARAMETER, TesterApiView
from sessions.serializers import CameraCheckResultSerializer, CameraCheckSerializer

VERDICT_MESSAGES = {
    "ok": gettext_lazy("Your face is clearly visible. You can start."),
    "no_face": gettext_lazy("We cannot see a face. Please look into the camera."),
    "multiple_faces": gettext_lazy("We see more than one face. Please make sure you are alone in the picture."),
    "face_too_small": gettext_lazy("Your face is too far away. Please move closer to the camera."),
    "too_dark": gettext_lazy("The picture is too dark. Please turn on a light or face a window."),
    "overexposed": gettext_lazy("The picture is too bright. Please move away from direct light."),
    "blurred": gettext_lazy("The picture is blurred. Please hold still or clean the camera lens."),
    "undecodable": gettext_lazy("The snapshot could not be read. Please try again."),
}


class CameraCheckApi(TesterApiView):
    rate_limit_kind = "camera-check"

    @extend_schema(
        operation_id="tester_camera_check",
        summary="Check one test snapshot's face and lighting",
        description="Nothing is stored; the answer says whether the snapshot would be usable.",
        request={**RAW_IMAGE_BODIES, "multipart/form-data": CameraCheckSerializer},
        parameters=[TOKEN_HEADER_PARAMETER],
        responses={200: CameraCheckResultSerializer, **ERRORS},
    )
    def post(self, request: Request, token: str | None = None) -> Response:
        tester = self.admit(request, token)
        data = self.snapshot(request, CameraCheckSerializer)
        # The camera page speaks the campaign's language (views.tester_page), so its verdicts must
        # too, not the browser's that LocaleMiddleware chose (one query: the gate reads the
        # campaign's status only).
        language = selectors.tester_language(campaign=tester.campaign, cookies=request.COOKIES)
        with translation.override(language):
            services.snapshot_check(image_bytes=data["image_bytes"])
            verdict = frame_quality_verdict(image_bytes=data["image_bytes"])
            message = str(VERDICT_MESSAGES.get(verdict, VERDICT_MESSAGES["undecodable"]))
        response = Response({"verdict": verdict, "message": message})
        response["Content-Language"] = language  # LocaleMiddleware only sets it when absent
        return response
