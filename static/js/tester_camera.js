// Camera check: one permission prompt, a live preview, and the server's verdict on test snapshots.
// Two "ok" verdicts in a row start the baseline: a few snapshots of the tester's own face (at
// rest and, if the campaign asks for them, a posed smile and a neutral face), one a second with a
// visible countdown, which the tester can skip; then the start button appears. A denied, missing
// or busy camera offers survey-only (and another try).
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
  let checking = true;

  const baseline = document.getElementById("baseline");
  const baselineInstruction = document.getElementById("baseline-instruction");
  const baselineCountdown = document.getElementById("baseline-countdown");
  const baselineSkip = document.getElementById("baseline-skip");
  // "kind:count kind:count" from the server: what is still to record, in order.
  const baselinePlan = (baseline.dataset.plan || "")
    .split(" ")
    .filter(Boolean)
    .map((item) => ({ kind: item.split(":")[0], count: Number(item.split(":")[1]) }));
  const BASELINE_TICK_MS = 1000;
  // A posed expression gets a second to follow the new instruction before its first snapshot.
  const POSED_LEAD_TICKS = 1;
  const BASELINE_INSTRUCTIONS = {
    resting: messages.resting,
    posed_smile: messages.posedSmile,
    posed_neutral: messages.posedNeutral,
  };
  // Busy or briefly away (429/503 with Retry-After, a proxy's 502/504): a few more tries, never
  // long: the baseline must not keep the tester from the study.
  const RETRY_STATUSES = new Set([429, 502, 503, 504]);
  const BASELINE_TRIES = 3;
  const BASELINE_UPLOAD_WAIT_MS = 10000;
  const baselineUploads = [];
  let baselineSkipped = false;

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

  function wait(ms) {
    return new Promise((resolve) => window.setTimeout(resolve, ms));
  }

  function showStart() {
    checking = false;
    okForm.hidden = false;
  }

  async function sendBaseline(kind, sequence, blob, capturedAt) {
    const headers = {
      "Content-Type": blob.type || "image/jpeg",
      "X-Snapshot-Kind": kind,
      "X-Snapshot-Sequence": String(sequence),
      "X-Snapshot-Captured-At": capturedAt,
    };
    for (let attempt = 1; attempt <= BASELINE_TRIES; attempt += 1) {
      let delayMs = 1000 * attempt;
      try {
        const response = await fetch(baseline.dataset.url, {
          method: "POST",
          body: blob,
          headers: headers,
          credentials: "same-origin",
        });
        // 204, or an answer a retry cannot change (400/404/409/413/415/500): done either way.
        if (!RETRY_STATUSES.has(response.status)) return;
        const retryAfter = Number(response.headers.get("Retry-After"));
        if (retryAfter > 0) delayMs = Math.min(5000, retryAfter * 1000);
      } catch (error) {
        // offline for a moment: try again below
      }
      if (attempt < BASELINE_TRIES) await wait(delayMs);
    }
  }

  async function recordBaseline() {
    checking = false;
    if (!baselinePlan.length) {
      showStart();
      return;
    }
    baseline.hidden = false;
    for (const step of baselinePlan) {
      baselineInstruction.textContent = BASELINE_INSTRUCTIONS[step.kind] || "";
      const lead = step.kind === "resting" ? 0 : POSED_LEAD_TICKS;
      for (let tick = 0; tick < lead + step.count && !baselineSkipped; tick += 1) {
        baselineCountdown.textContent = String(lead + step.count - tick);
        await wait(BASELINE_TICK_MS);
        // Not while the tab is hidden: the tester is not looking at the screen then.
        if (baselineSkipped || tick < lead || document.hidden || !preview.videoWidth) continue;
        const capturedAt = new Date().toISOString();
        const blob = await snapshot();
        if (blob) baselineUploads.push(sendBaseline(step.kind, tick - lead, blob, capturedAt));
      }
    }
    if (baselineSkipped) return;
    baselineCountdown.textContent = "0";
    baselineInstruction.textContent = messages.baselineDone;
    baselineSkip.hidden = true;
    // The snapshots leave with the page otherwise: wait for them, a little.
    await Promise.race([Promise.allSettled(baselineUploads), wait(BASELINE_UPLOAD_WAIT_MS)]);
    showStart();
  }

  baselineSkip.addEventListener("click", () => {
    baselineSkipped = true;
    baseline.hidden = true;
    showStart();
  });

  async function checkOnce() {
    if (!checking) return;
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
          if (okCount >= OK_IN_A_ROW) {
            recordBaseline();
            return;
          }
        } else {
          serverFailures += 1;
        }
      } catch (error) {
        serverFailures += 1;
      }
      // A broken check must not lock a willing tester out: let them go on after a few failures.
      // (The baseline is left out then: its uploads would most likely fail too.)
      if (serverFailures >= SERVER_FAILURES_BEFORE_SKIP) {
        statusLine.textContent = messages.checkFailed;
        showStart();
      }
    }
    if (checking) window.setTimeout(checkOnce, CHECK_EVERY_MS);
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
