// Viewing one variant: show it for its time (image) or once to the end (video), take a snapshot
// as it appears and then every capture interval while it shows, and upload them. Snapshots that
// cannot be sent for now (offline, 429, 502, 503, 504) wait in a queue and are retried with
// back-off; any other answer (500 included) is final for that snapshot. Once the variant has
// finished the camera is switched off and the page waits for the queue, but only up to
// FLUSH_WAIT_MS, then moves on anyway.
"use strict";

(function () {
  const root = document.getElementById("viewer");
  if (!root) return;
  const settings = root.dataset;
  const messages = document.getElementById("watch-messages").dataset;
  const stage = document.getElementById("stage");
  const statusLine = document.getElementById("capture-status");
  const capturedCount = document.getElementById("captured-count");
  const pendingCount = document.getElementById("pending-count");
  const camera = document.getElementById("camera");
  const displayMs = Number(settings.displayMs);
  const intervalMs = Number(settings.intervalMs);
  const MAX_LONG_SIDE = 640;
  const JPEG_QUALITY = 0.8;
  const MAX_BACKOFF_MS = 8000;
  // Worth another try: the server is busy or briefly away (it says so with 429/503 and Retry-After,
  // a proxy with 502/504). A plain 500 is a bug that the same request would hit again, and the
  // server tells clients not to retry it (sessions/api.py), so it is final like 400/404/409/413/415.
  const RETRY_STATUSES = new Set([429, 502, 503, 504]);
  // How long a finished variant waits for unsent snapshots before moving on without them. Long
  // enough to ride out a short outage (several back-off rounds, a typical Retry-After), short
  // enough that an outage or a broken server never keeps the tester on a "connection problem"
  // page: losing a few snapshots is better than losing the tester.
  const FLUSH_WAIT_MS = 45000;

  const queue = [];
  let sending = false;
  let failures = 0;
  let retryTimer = null;
  // The next sequence number survives a reload of the page: otherwise new snapshots would reuse
  // numbers already stored and be dropped by the server as repeats.
  const sequenceKey = `mimik-next-sequence:${settings.variant}`;
  let sequence = Number(window.sessionStorage.getItem(sequenceKey)) || 0;
  let captured = 0;
  // Snapshots fall due at media time 0, I, 2I, ... before the advertisement's end D: one as it
  // appears, then one every interval, ceil(D / I) in all (campaigns/capture.py,
  // snapshots_per_showing, counts the same). Due by media time, not by a wall-clock interval: a
  // hidden tab, a pause or a stalled video takes no extra snapshot of the same moment, and the
  // media time sent with each one is where the advertisement really was.
  let nextDueMs = 0;
  let capturing = false;
  let captureTimer = null;
  let encoding = 0; // snapshots being turned into JPEGs, not yet in the queue
  let finished = false;
  let left = false;
  let flushTimer = null;
  let mediaElement = null;
  let mediaFailed = false;
  // Image clock: milliseconds the image has been visible, paused while the tab is hidden.
  let shownMs = 0;
  let shownSince = null;
  let imageTimer = null;

  function updateCounters() {
    capturedCount.textContent = String(captured);
    pendingCount.textContent = String(queue.length);
  }

  function mediaTimeMs() {
    if (settings.kind === "video") return Math.round(mediaElement.currentTime * 1000);
    return Math.round(shownMs + (shownSince === null ? 0 : performance.now() - shownSince));
  }

  // Whether media time `atMs` is still within the advertisement (a video's end may not be known
  // before it is reached).
  function stillShowing(atMs) {
    if (settings.kind !== "video") return atMs < displayMs;
    const seconds = mediaElement.duration;
    return !mediaElement.ended && (!Number.isFinite(seconds) || atMs < seconds * 1000);
  }

  // --- Upload queue -------------------------------------------------------------------------
  function scheduleRetry(delayMs) {
    window.clearTimeout(retryTimer);
    retryTimer = window.setTimeout(pump, delayMs);
  }

  function backoffMs() {
    failures += 1;
    const base = Math.min(MAX_BACKOFF_MS, 500 * 2 ** (failures - 1));
    return base / 2 + Math.random() * (base / 2);
  }

  async function pump() {
    if (sending || queue.length === 0) return;
    sending = true;
    const item = queue[0];
    // The JPEG itself is the body and the fields travel in headers: no form to build here and
    // none to parse on the server.
    const headers = {
      "Content-Type": item.blob.type || "image/jpeg",
      "X-Snapshot-Variant": settings.variant,
      "X-Snapshot-Sequence": String(item.sequence),
      "X-Snapshot-Media-Time-Ms": String(item.mediaTimeMs),
      "X-Snapshot-Captured-At": item.capturedAt,
    };
    let delay = 0;
    try {
      const response = await fetch(settings.uploadUrl, {
        method: "POST",
        body: item.blob,
        headers: headers,
        credentials: "same-origin",
      });
      if (RETRY_STATUSES.has(response.status)) {
        const retryAfter = Number(response.headers.get("Retry-After"));
        delay = retryAfter > 0 ? retryAfter * 1000 : backoffMs();
        statusLine.textContent = messages.offline;
      } else {
        // 204, or an answer that a retry cannot fix (400/404/409/413/415/500): either way it is done.
        queue.shift();
        failures = 0;
        if (statusLine.textContent === messages.offline) statusLine.textContent = "";
      }
    } catch (error) {
      delay = backoffMs();
      statusLine.textContent = messages.offline;
    }
    sending = false;
    updateCounters();
    if (queue.length) scheduleRetry(delay);
    else if (finished && !encoding) leave();
  }

  // --- Capture --------------------------------------------------------------------------------
  function captureOnce(atMs) {
    if (finished || document.hidden || !camera.videoWidth) return;
    const scale = Math.min(1, MAX_LONG_SIDE / Math.max(camera.videoWidth, camera.videoHeight));
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(camera.videoWidth * scale);
    canvas.height = Math.round(camera.videoHeight * scale);
    canvas.getContext("2d").drawImage(camera, 0, 0, canvas.width, canvas.height);
    const item = { sequence: sequence++, mediaTimeMs: atMs, capturedAt: new Date().toISOString() };
    window.sessionStorage.setItem(sequenceKey, String(sequence));
    encoding += 1;
    canvas.toBlob(
      (blob) => {
        encoding -= 1;
        if (blob) {
          item.blob = blob;
          queue.push(item);
          captured += 1;
          updateCounters();
        }
        if (queue.length) pump();
        else if (finished && !encoding && !sending) leave(); // the advertisement ended meanwhile
      },
      "image/jpeg",
      JPEG_QUALITY,
    );
  }

  // Takes the snapshot that is due (if the advertisement is still showing) and waits for the next.
  function captureWhenDue() {
    captureTimer = null;
    if (!capturing || finished) return;
    const now = mediaTimeMs();
    if (now >= nextDueMs) {
      if (stillShowing(now)) captureOnce(now);
      nextDueMs += intervalMs;
    }
    // A video that stalls without a "waiting" event keeps its media time: this only looks again.
    captureTimer = window.setTimeout(captureWhenDue, Math.max(10, nextDueMs - mediaTimeMs()));
  }

  // Called when the advertisement is (again) visibly showing: the image is shown, the video plays.
  function startCapture() {
    if (!camera.srcObject || capturing) return;
    capturing = true;
    captureWhenDue();
  }

  function stopCapture() {
    capturing = false;
    window.clearTimeout(captureTimer);
    captureTimer = null;
  }

  // The camera light goes off as soon as no more snapshots will be taken on this page, not only
  // when the page is left: the wait for unsent snapshots can take a while.
  function stopCamera() {
    stopCapture();
    if (camera.srcObject) camera.srcObject.getTracks().forEach((track) => track.stop());
    camera.srcObject = null; // and startCapture, which needs a stream, stays a no-op from here on
  }

  async function openCamera() {
    if (settings.capture !== "1") return;
    try {
      camera.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
      await camera.play();
    } catch (error) {
      camera.srcObject = null;
      statusLine.textContent = messages.cameraLost;
    }
  }

  // --- Showing the variant --------------------------------------------------------------------
  function finish() {
    if (finished) return;
    finished = true;
    stopCamera();
    if (queue.length || sending || encoding) {
      statusLine.textContent = messages.flushing;
      flushTimer = window.setTimeout(leave, FLUSH_WAIT_MS);
    } else leave();
  }

  function leave() {
    if (left) return; // the flush deadline and the last answer may both get here
    left = true;
    window.clearTimeout(flushTimer);
    window.clearTimeout(retryTimer);
    stopCamera();
    document.getElementById("viewed-form").submit();
  }

  // The file could not be loaded or played: say so (instead of a blank stage that never ends),
  // switch the camera off, and let the tester reload or go on to the questions.
  function showMediaFailed() {
    if (finished || mediaFailed) return;
    mediaFailed = true;
    pauseImageClock();
    stopCamera();
    document.getElementById("play").hidden = true;
    statusLine.textContent = "";
    document.getElementById("media-failed").hidden = false;
  }

  function resumeImageClock() {
    if (finished || shownSince !== null) return;
    shownSince = performance.now();
    imageTimer = window.setTimeout(finish, Math.max(0, displayMs - shownMs));
  }

  function pauseImageClock() {
    if (shownSince === null) return;
    shownMs += performance.now() - shownSince;
    shownSince = null;
    window.clearTimeout(imageTimer);
  }

  function showImage() {
    const image = document.createElement("img");
    image.alt = "";
    image.addEventListener("error", showMediaFailed);
    image.addEventListener("load", () => {
      if (!document.hidden) {
        resumeImageClock();
        startCapture();
      }
    });
    image.src = settings.src;
    stage.appendChild(image);
    mediaElement = image;
  }

  function showVideo() {
    const video = document.createElement("video");
    video.playsInline = true;
    video.controls = false; // plays once, start to end: nothing to skip with
    video.disablePictureInPicture = true;
    video.src = settings.src;
    if (settings.poster) video.poster = settings.poster;
    video.addEventListener("ended", finish);
    video.addEventListener("playing", startCapture);
    video.addEventListener("pause", stopCapture);
    video.addEventListener("waiting", stopCapture); // stalled: the picture is frozen, no snapshots of it
    video.addEventListener("error", showMediaFailed);
    stage.appendChild(video);
    mediaElement = video;
    const playButton = document.getElementById("play");
    playButton.addEventListener("click", () => {
      playButton.hidden = true;
      video.play().catch(() => {});
    });
    // A tab hidden while the camera was being opened starts the video when it becomes visible
    // (the visibilitychange handler below), not unseen in the background.
    if (document.hidden) return;
    // Autoplay with sound may be refused until the tester clicks; then offer one Play button.
    video.play().catch(() => {
      if (!mediaFailed) playButton.hidden = false;
    });
  }

  document.addEventListener("visibilitychange", () => {
    if (finished || mediaFailed) return;
    if (document.hidden) {
      stopCapture();
      statusLine.textContent = messages.paused;
      // No media element yet: the camera is still being opened, and showVideo/showImage look at
      // document.hidden themselves.
      if (mediaElement === null) return;
      if (settings.kind === "video") mediaElement.pause();
      else pauseImageClock();
      return;
    }
    statusLine.textContent = "";
    if (mediaElement === null) return;
    if (settings.kind === "video") {
      mediaElement.play().catch(() => {
        document.getElementById("play").hidden = false;
      });
    } else if (mediaElement.complete && mediaElement.naturalWidth > 0) {
      // .complete is an <img> property (true for a broken image too, hence naturalWidth).
      resumeImageClock();
      startCapture();
    }
  });

  document.getElementById("media-retry").addEventListener("click", () => window.location.reload());
  document.getElementById("media-skip").addEventListener("click", finish);

  openCamera().then(() => (settings.kind === "video" ? showVideo() : showImage()));
})();
