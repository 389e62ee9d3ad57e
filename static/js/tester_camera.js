// Camera check: one permission prompt, a live preview, and the server's verdict on test snapshots.
// Two "ok" verdicts in a row reveal the start button; a denied, missing or busy camera offers
// survey-only (and another try).
"use strict";

(function () {
  const root = document.getElementById("camera-check");
  if (!root) return;
  const checkUrl = root.dataset.checkUrl;
  const messages = document.getElementById("camera-messages").dataset;
  const preview = document.getElementById("preview");
  const statusLine = document.getElementById("camera-status");
  const okForm = document.getElementById("camera-ok");
  const problem = document.getElementById("camera-problem");
  const CHECK_EVERY_MS = 1000;
  const OK_IN_A_ROW = 2;
  const SERVER_FAILURES_BEFORE_SKIP = 3;
  let okCount = 0;
  let serverFailures = 0;

  const allowHelp = document.getElementById("camera-allow-help");
  const retryButton = document.getElementById("camera-retry");
  // getUserMedia's error names (with Chrome's old aliases) -> what the tester reads and which
  // camera state the survey-only form records for the researcher. "denied" only when the tester
  // (or a policy) refused; a camera that is absent, busy or broken is "unavailable".
  const PROBLEMS = {
    NotAllowedError: "denied",
    PermissionDeniedError: "denied",
    SecurityError: "denied",
    NotFoundError: "missing",
    DevicesNotFoundError: "missing",
    OverconstrainedError: "missing",
  };

  function showProblem(kind, canRetry) {
    const text = { denied: messages.denied, missing: messages.missing, inUse: messages.inUse }[kind];
    document.getElementById("camera-problem-text").textContent = text;
    document.getElementById("camera-state").value = kind === "denied" ? "denied" : "unavailable";
    // The lock-symbol advice only helps when the permission was refused.
    allowHelp.hidden = kind !== "denied";
    retryButton.hidden = !canRetry;
    problem.hidden = false;
    statusLine.textContent = "";
  }

  function snapshot() {
    // Same size and quality as during viewing, so the verdict predicts what the model will see.
    const scale = Math.min(1, 640 / Math.max(preview.videoWidth, preview.videoHeight));
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(preview.videoWidth * scale);
    canvas.height = Math.round(preview.videoHeight * scale);
    canvas.getContext("2d").drawImage(preview, 0, 0, canvas.width, canvas.height);
    return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.8));
  }

  async function checkOnce() {
    if (!okForm.hidden) return;
    if (preview.videoWidth) {
      const body = new FormData();
      body.append("image", await snapshot(), "check.jpg");
      try {
        const response = await fetch(checkUrl, { method: "POST", body: body });
        if (response.ok) {
          const result = await response.json();
          serverFailures = 0;
          okCount = result.verdict === "ok" ? okCount + 1 : 0;
          statusLine.textContent = result.message;
          statusLine.dataset.verdict = result.verdict;
          if (okCount >= OK_IN_A_ROW) okForm.hidden = false;
        } else {
          serverFailures += 1;
        }
      } catch (error) {
        serverFailures += 1;
      }
      // A broken check must not lock a willing tester out: let them go on after a few failures.
      if (serverFailures >= SERVER_FAILURES_BEFORE_SKIP) {
        statusLine.textContent = messages.checkFailed;
        okForm.hidden = false;
      }
    }
    if (okForm.hidden) window.setTimeout(checkOnce, CHECK_EVERY_MS);
  }

  async function start() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      showProblem("missing", false);
      return;
    }
    problem.hidden = true;
    statusLine.textContent = messages.starting;
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
      preview.srcObject = stream;
      await preview.play();
      statusLine.textContent = messages.checking;
      window.setTimeout(checkOnce, 500);
    } catch (error) {
      // A stream that opened but would not play is let go, so that "Try again" can open it anew.
      if (preview.srcObject) preview.srcObject.getTracks().forEach((track) => track.stop());
      preview.srcObject = null;
      // NotReadableError (in use by another program, or a hardware fault), AbortError and
      // anything unknown: the camera is there but not working, which is not a refusal.
      showProblem(PROBLEMS[error && error.name] || "inUse", true);
    }
  }

  retryButton.addEventListener("click", start);
  start();
})();
