// Moments: per variant, the estimated shares per second drawn under the video; playing moves a
// cursor over the curves, clicking the curves seeks the video; markers are set at the playing time.
// Every number comes from the moments API; this file only draws it.
"use strict";

(function () {
  const root = document.getElementById("moments");
  if (!root || !window.Plotly) return;
  const T = JSON.parse(document.getElementById("moment-strings").textContent);
  const COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442"];
  const DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"];
  const REFRESH_MS = 20000;
  const lang = document.documentElement.lang || "en";
  const pctFormat = new Intl.NumberFormat(lang, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
  const pct = (x) => (x === null || x === undefined ? "–" : pctFormat.format(x * 100) + " %");
  const points = (x) => (x > 0 ? "+" : "") + pctFormat.format(x * 100);
  // Plotly reads annotation text as a little HTML: a researcher's label is shown as typed.
  const plain = (text) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const csrfToken = () => (document.querySelector("input[name=csrfmiddlewaretoken]") || {}).value || "";
  let data = null;
  let chosen = null;
  const players = {};  // variant id -> {chart, media, cursor seconds}

  async function load() {
    // The page's audience (?audience=) applies to the moments too.
    const audience = new URLSearchParams(window.location.search).get("audience");
    const url = root.dataset.url + (audience ? "?audience=" + encodeURIComponent(audience) : "");
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) return;
    data = await response.json();
    render();
  }

  function emotionChoices() {
    const names = data.classes.map((c) => c.class_name);
    if (chosen === null) chosen = ["happy", "sad"].filter((name) => names.includes(name));
    const holder = document.getElementById("moment-emotions");
    if (holder.childElementCount) return;
    data.classes.forEach((c) => {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.value = c.class_name;
      box.checked = chosen.includes(c.class_name);
      box.addEventListener("change", () => {
        chosen = [...holder.querySelectorAll("input:checked")].map((input) => input.value);
        render();
      });
      label.append(box, " " + c.label + " ");
      holder.appendChild(label);
    });
  }

  function render() {
    emotionChoices();
    const notes = [T.too_few.replace("%(count)s", data.min_testers)];
    if (!data.calibrated) notes.unshift(T.no_calibration);
    document.getElementById("moments-note").textContent = notes.join(" ");
    data.variants.forEach(renderVariant);
    renderMarkers();
  }

  function variantBox(variant) {
    if (players[variant.id]) return players[variant.id];
    const box = document.createElement("div");
    box.className = "moment-variant";
    box.dataset.variant = variant.id;
    const title = document.createElement("h3");
    title.textContent = variant.label;
    // An image's curves run over seconds since shown: only a video plays along with them.
    const media = document.createElement(variant.kind === "video" ? "video" : "span");
    if (variant.kind === "video") {
      media.src = variant.media_url;
      if (variant.poster_url) media.poster = variant.poster_url;
      media.className = "moment-media";
      media.controls = true;
      media.preload = "metadata";
      media.muted = true;
    }
    const chart = document.createElement("div");
    chart.className = "chart moment-chart";
    chart.setAttribute("role", "img");
    chart.setAttribute("aria-label", variant.label + ": " + T.share_axis);
    const attention = document.createElement("p");
    attention.className = "moment-attention";
    box.append(title, media, chart, attention);
    const player = { box, media, chart, attention, cursor: 0, drawn: false };
    if (variant.kind === "video") {
      const form = document.getElementById("marker-form-template").content.firstElementChild.cloneNode(true);
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        addMarker(variant, form);
      });
      box.appendChild(form);
      media.addEventListener("timeupdate", () => moveCursor(player, media.currentTime));
      media.addEventListener("seeked", () => moveCursor(player, media.currentTime));
    }
    document.getElementById("moment-variants").appendChild(box);
    players[variant.id] = player;
    return player;
  }

  function renderVariant(variant) {
    const player = variantBox(variant);
    // Seconds nobody was snapshotted in (between captures) are left out, so the lines join across
    // them; a second with too few testers stays in as a gap.
    const seconds = variant.seconds.filter((s) => s.testers > 0 || s.attention.frames > 0);
    const x = seconds.map((s) => s.second + 0.5);
    const traces = [];
    chosen.forEach((name, i) => {
      const label = (data.classes.find((c) => c.class_name === name) || { label: name }).label;
      const colour = COLOURS[i % COLOURS.length];
      const shown = seconds.filter((s) => s.shares && s.shares[name]);
      // The interval as one band: along the upper ends, back along the lower ones.
      traces.push({
        type: "scatter", mode: "lines", fill: "toself", fillcolor: colour + "33", line: { width: 0 },
        x: [...shown.map((s) => s.second + 0.5), ...shown.map((s) => s.second + 0.5).reverse()],
        y: [...shown.map((s) => s.shares[name].high), ...shown.map((s) => s.shares[name].low).reverse()],
        hoverinfo: "skip", showlegend: false,
      });
      traces.push({
        type: "scatter", mode: "lines+markers", name: label, x, connectgaps: false,
        y: seconds.map((s) => (s.shares && s.shares[name] ? s.shares[name].share : null)),
        text: seconds.map((s) => T.testers + ": " + s.testers + (s.shares ? "" : " (" + T.too_few_short + ")")),
        line: { color: colour, dash: DASHES[i % DASHES.length] },
      });
    });
    traces.push({
      type: "scatter", mode: "lines+markers", name: T.looking, x, connectgaps: false,
      y: seconds.map((s) => s.attention.share), line: { color: "#555", dash: "dot", width: 1.5 },
      marker: { symbol: "x", size: 6 },
    });
    const end = variant.duration_ms / 1000;
    const layout = {
      margin: { t: 30, r: 10, b: 50, l: 60 }, height: 300, font: { size: 13 }, legend: { orientation: "h" },
      // A click anywhere over the curves picks the nearest second, however sparse the snapshots.
      hovermode: "x", hoverdistance: -1,
      xaxis: { title: { text: T.seconds_axis }, range: [0, end] },
      yaxis: { title: { text: T.share_axis }, range: [0, 1.05], tickformat: ".0%" },
      shapes: [cursorShape(player.cursor), ...variant.markers.map(markerShape)],
      annotations: variant.markers.map((m) => ({
        x: m.at_ms / 1000, y: 1, yref: "paper", text: plain(m.label), showarrow: false, yanchor: "bottom", font: { size: 11 },
      })),
    };
    Plotly.react(player.chart, traces, layout, { displaylogo: false, responsive: true });
    if (!player.drawn) {
      player.drawn = true;
      player.chart.on("plotly_click", (event) => {
        if (!event.points.length || player.media.tagName !== "VIDEO") return;
        player.media.currentTime = Math.max(0, event.points[0].x - 0.5);
        moveCursor(player, player.media.currentTime);
      });
    }
    player.chart.dataset.cursor = String(player.cursor);
    player.attention.textContent = T.attention_variant + ": " + pct(variant.attention.share) +
      " (" + T.testers + ": " + variant.attention.testers + ")";
  }

  const cursorShape = (at) => ({
    type: "line", x0: at, x1: at, y0: 0, y1: 1, yref: "paper", line: { color: "#000", width: 2 }, name: "cursor",
  });
  const markerShape = (m) => ({
    type: "line", x0: m.at_ms / 1000, x1: m.at_ms / 1000, y0: 0, y1: 1, yref: "paper",
    line: { color: "#D55E00", width: 1.5, dash: "dash" },
  });

  function moveCursor(player, seconds) {
    player.cursor = seconds;
    player.chart.dataset.cursor = seconds.toFixed(2);
    Plotly.relayout(player.chart, { "shapes[0].x0": seconds, "shapes[0].x1": seconds });
  }

  async function addMarker(variant, form) {
    const error = form.querySelector(".marker-error");
    const player = players[variant.id];
    const response = await fetch(root.dataset.markersUrl, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({
        variant: variant.id, at_ms: Math.round(player.media.currentTime * 1000),
        kind: form.elements.kind.value, label: form.elements.label.value,
      }),
    });
    error.hidden = response.ok;
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      error.textContent = body.message || T.marker_failed;
      return;
    }
    form.elements.label.value = "";
    await load();
  }

  async function deleteMarker(marker) {
    await fetch(root.dataset.markersUrl + marker.id + "/", {
      method: "DELETE", credentials: "same-origin", headers: { "X-CSRFToken": csrfToken() },
    });
    await load();
  }

  function renderMarkers() {
    const element = document.getElementById("table-markers");
    element.replaceChildren();
    document.getElementById("markers-note").textContent = data.markers.length ? "" : T.no_markers;
    if (!data.markers.length) return;
    const head = element.createTHead().insertRow();
    [T.variant, T.marker, T.at, T.testers, ...chosen.flatMap((name) => {
      const label = (data.classes.find((c) => c.class_name === name) || { label: name }).label;
      return [label + ": " + T.before + " → " + T.after, label + ": " + T.difference + " (" + T.interval + ")"];
    }), ""].forEach((text) => {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = text;
      head.appendChild(th);
    });
    const body = element.createTBody();
    data.markers.forEach((marker) => {
      const row = body.insertRow();
      row.dataset.marker = marker.id;
      const cells = [marker.variant, marker.label, pctFormat.format(marker.at_ms / 1000).replace(/[.,]0$/, ""), String(marker.testers)];
      chosen.forEach((name) => {
        const figure = marker.classes && marker.classes.find((c) => c.class_name === name);
        if (!figure) {
          cells.push(T.too_few_short, "–");
          return;
        }
        cells.push(pct(figure.before) + " → " + pct(figure.after),
          points(figure.difference) + " (" + points(figure.low) + " – " + points(figure.high) + ")");
      });
      cells.forEach((text) => { row.insertCell().textContent = text; });
      const button = document.createElement("button");
      button.type = "button";
      button.className = "secondary small";
      button.textContent = T.delete;
      button.addEventListener("click", () => deleteMarker(marker));
      row.insertCell().appendChild(button);
    });
  }

  load();
  window.setInterval(() => { if (!document.hidden) load(); }, REFRESH_MS);
})();
