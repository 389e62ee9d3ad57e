// Campaign form: redo the "snapshots per advertisement" lines as the researcher types. The count
// is campaigns/capture.py's: one as the advertisement appears, then one every interval while it
// shows, so ceil(duration / interval); the server refuses settings below the minimum.
"use strict";
(() => {
  const preview = document.getElementById("snapshot-preview");
  if (!preview) return;
  const field = (name) => document.getElementById(`id_${name}`);
  const interval = field("capture_interval_seconds");
  const display = field("image_display_seconds");
  const minimum = field("min_frames_per_tester");
  const language = document.documentElement.lang || undefined;
  const number = (value) => Number(value).toLocaleString(language, { maximumFractionDigits: 1, useGrouping: false });
  const fill = (template, values) => template.replace(/%\((\w+)\)s/g, (whole, key) => (key in values ? values[key] : whole));
  // Float noise (10 / 2.0000001) must not add a snapshot the page never takes.
  const snapshots = (seconds, every) => (seconds > 0 && every > 0 ? Math.max(1, Math.ceil(seconds / every - 1e-9)) : 0);

  function update() {
    const every = parseFloat(interval.value);
    const least = parseInt(minimum.value, 10);
    if (!(every > 0)) return; // keep the last counts while the field is being retyped
    preview.querySelectorAll("li[data-seconds]").forEach((line) => {
      const seconds = line.dataset.seconds === "image" ? parseFloat(display.value) : parseFloat(line.dataset.seconds);
      if (!(seconds > 0)) return;
      const count = snapshots(seconds, every);
      const template = count === 1 ? line.dataset.one : line.dataset.other;
      line.querySelector(".snapshot-count").textContent = fill(template, {
        count: String(count), interval: number(every), seconds: number(seconds),
      });
      const short = least > 0 && count < least;
      line.classList.toggle("short", short);
      const shortfall = line.querySelector(".shortfall");
      shortfall.hidden = !short;
      if (short) shortfall.textContent = fill(preview.dataset.shortfall, { minimum: String(least) });
    });
  }

  [interval, display, minimum].forEach((input) => input && input.addEventListener("input", update));
})();
