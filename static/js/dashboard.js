// Comparison dashboard: fetch the aggregates, draw charts and tables, refetch on live events.
// Every number comes from the JSON API; this file only formats it.
"use strict";

(function () {
  const root = document.getElementById("dashboard");
  if (!root) return;
  const T = JSON.parse(document.getElementById("dashboard-strings").textContent);
  const apiUrl = root.dataset.apiUrl;
  const defaultThreshold = root.dataset.defaultThreshold;
  // Okabe-Ito colours (safe for colour-blind readers) plus patterns, dashes and symbols, so no
  // series is told apart by colour alone.
  const COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442"];
  const PATTERNS = ["", "/", "x", ".", "\\", "+", "-"];
  const DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"];
  const SYMBOLS = ["circle", "square", "diamond", "triangle-up", "x", "star"];
  const PLOT_CONFIG = { displaylogo: false, responsive: true };
  const REFRESH_MS = 1500;
  const RECONNECT_FIRST_MS = 1000;
  const RECONNECT_MAX_MS = 30000;
  let threshold = null;
  // The verdict's emotions and the planner's difference live in the page's URL, so a reload or a
  // shared link shows the same; null means the server's defaults.
  const pageQuery = new URLSearchParams(window.location.search);
  let chosenEmotions = pageQuery.get("emotions") ? pageQuery.get("emotions").split(",").filter(Boolean) : null;
  let detect = pageQuery.get("detect") || null;
  let lastData = null;
  let refetchTimer = null;
  let inFlight = false;
  let again = false;

  const $ = (id) => document.getElementById(id);
  // Numbers in the page's language ("12,3 %" in German), with a fixed number of decimals.
  const numberFormats = {};
  const fixed = (x, digits) => {
    numberFormats[digits] = numberFormats[digits] || new Intl.NumberFormat(document.documentElement.lang || "en", {
      minimumFractionDigits: digits, maximumFractionDigits: digits, useGrouping: false,
    });
    return numberFormats[digits].format(x);
  };
  const pct = (x) => (x === null || x === undefined ? "–" : fixed(x * 100, 1) + " %");
  const num = (x, digits) => (x === null || x === undefined ? "–" : fixed(Number(x), digits));
  const interval = (r, f) => (r.low === null || r.low === undefined ? "–" : f(r.low) + " – " + f(r.high));
  const lang = document.documentElement.lang || undefined;
  // The page's language decides the clock too: 24 h on a German page, whatever the browser's locale.
  const clock = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const LABEL_LINE = 28;

  function table(element, headers, rows) {
    element.replaceChildren();
    const head = element.createTHead().insertRow();
    headers.forEach((text) => {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = text;
      head.appendChild(th);
    });
    const body = element.createTBody();
    rows.forEach((cells) => {
      const tr = body.insertRow();
      cells.forEach((cell) => {
        const td = tr.insertCell();
        if (cell !== null && typeof cell === "object") {
          td.textContent = cell.text;
          if (cell.testid) td.dataset.testid = cell.testid;
        } else {
          td.textContent = cell;
        }
      });
    });
  }

  // An empty chart keeps a sensible axis (0-100 % for shares, not Plotly's guess of -1..1 or 0-400 %)
  // and says in words that there is nothing to draw yet.
  const EMPTY_AXES = {
    share: { range: [0, 1], tickformat: ".0%", autorange: false },
    count: { range: [0, 1], autorange: false, showticklabels: false },
    points: { range: [-100, 100], autorange: false },
  };

  function plot(id, traces, layout, empty) {
    const base = { margin: { t: 30, r: 10, b: 50, l: 60 }, height: 320, font: { size: 13 }, legend: { orientation: "h" } };
    const merged = Object.assign(base, layout);
    if (empty) {
      Object.entries(empty).forEach(([axis, kind]) => {
        merged[axis] = Object.assign({}, merged[axis], EMPTY_AXES[kind]);
      });
      merged.annotations = [{
        text: T.not_enough, xref: "paper", yref: "paper", x: 0.5, y: 0.5, showarrow: false, font: { size: 15 },
      }];
    }
    // Values written above the tallest bar stay visible instead of being cut at the plot's edge.
    traces.forEach((trace) => {
      if (trace.type === "bar" && trace.textposition === "outside") trace.cliponaxis = false;
    });
    $(id).dataset.empty = String(Boolean(empty));
    Plotly.react($(id), traces, merged, PLOT_CONFIG);
  }

  const missing = (x) => x === null || x === undefined;

  // Long variant names break into lines instead of running off the chart's left edge.
  function wrap(text) {
    const lines = [];
    let line = "";
    text.split(/\s+/).forEach((word) => {
      while (word.length > LABEL_LINE) {
        if (line) lines.push(line);
        lines.push(word.slice(0, LABEL_LINE));
        word = word.slice(LABEL_LINE);
        line = "";
      }
      if (line && (line + " " + word).length > LABEL_LINE) {
        lines.push(line);
        line = word;
      } else {
        line = line ? line + " " + word : word;
      }
    });
    if (line) lines.push(line);
    return lines;
  }

  function renderProgress(data) {
    $("backlog-note").hidden = !data.backlog_note;
    $("backlog-note").textContent = data.backlog_note;
    const dl = $("progress");
    dl.replaceChildren();
    ["invited", "opened", "consented", "completed", "withdrawn"].forEach((key) => {
      const div = document.createElement("div");
      const dt = document.createElement("dt");
      const dd = document.createElement("dd");
      dt.textContent = T[key];
      dd.textContent = data.progress[key];
      dd.dataset.testid = "progress-" + key;
      div.append(dt, dd);
      dl.appendChild(div);
    });
    const stages = ["received", "face_found", "passed_quality", "high_confidence"];
    const values = stages.map((s) => data.frames[s]);
    plot("chart-funnel", [{
      type: "bar", orientation: "h", y: stages.map((s) => T[s]), x: values, text: values.map(String),
      textposition: "auto", marker: { color: COLOURS[0] }, hovertemplate: "%{y}: %{x}<extra></extra>",
    }], {
      yaxis: { autorange: "reversed", automargin: true }, xaxis: { title: { text: T.frames }, rangemode: "tozero" },
      height: 240, margin: { l: 130, t: 10 },
    }, data.frames.received ? null : { xaxis: "count" });
    table($("table-funnel"), [T.stage, T.frames],
      stages.map((s) => [T[s], { text: String(data.frames[s]), testid: "funnel-" + s }]));
    table($("table-outcomes"), [T.outcome, T.frames], data.frames.outcomes.map((o) => [o.label, o.frames]));
  }

  function renderRatios(data) {
    $("excluded-note").textContent = data.testers.summary;
    const reasons = $("not-counted");
    reasons.replaceChildren();
    data.testers.reasons.forEach((r) => {
      const li = document.createElement("li");
      li.textContent = r.text;
      li.dataset.testid = "not-counted-" + r.reason;
      reasons.appendChild(li);
    });
    reasons.hidden = !data.testers.reasons.length;
    $("survey-only-note").textContent = data.testers.survey_only_note;
    const classes = data.class_names;
    const traces = data.variants.map((variant, i) => {
      const means = variant.classes.map((c) => c.tester_mean.mean);
      return {
        type: "bar", name: variant.label, x: classes.map((c) => c.label), y: means,
        text: means.map((m) => pct(m)), textposition: "outside",
        marker: { color: COLOURS[i % COLOURS.length], pattern: { shape: PATTERNS[i % PATTERNS.length] } },
        error_y: {
          type: "data", symmetric: false,
          array: variant.classes.map((c) => (c.tester_mean.high === null ? 0 : c.tester_mean.high - c.tester_mean.mean)),
          arrayminus: variant.classes.map((c) => (c.tester_mean.low === null ? 0 : c.tester_mean.mean - c.tester_mean.low)),
        },
      };
    });
    const empty = data.variants.every((v) => v.classes.every((c) => missing(c.tester_mean.mean)));
    plot("chart-ratios", traces, { barmode: "group", yaxis: { title: { text: T.tester_mean }, tickformat: ".0%", rangemode: "tozero" } },
      empty ? { yaxis: "share" } : null);
    const rows = [];
    data.variants.forEach((variant) => {
      variant.classes.forEach((c) => {
        rows.push([
          variant.label, c.label,
          { text: String(c.count), testid: "count-" + variant.id + "-" + c.class_name },
          { text: String(variant.frames), testid: "frames-" + variant.id },
          { text: pct(c.ratio), testid: "ratio-" + variant.id + "-" + c.class_name },
          pct(c.tester_mean.mean), interval(c.tester_mean, pct), String(c.tester_mean.n),
        ]);
      });
    });
    table($("table-variants"), [T.variant, T.emotion, T.count, T.frames, T.ratio, T.tester_mean, T.interval, T.testers], rows);
  }

  function shownEmotions(decision) {
    const known = decision.emotions.map((e) => e.class_name);
    const chosen = (chosenEmotions || decision.default_emotions).filter((name) => known.includes(name));
    return chosen.length ? chosen : decision.default_emotions;
  }

  function rememberInUrl() {
    const url = new URL(window.location.href);
    [["emotions", chosenEmotions ? chosenEmotions.join(",") : null], ["detect", detect]].forEach(([key, value]) => {
      if (value) url.searchParams.set(key, value);
      else url.searchParams.delete(key);
    });
    window.history.replaceState(null, "", url);
  }

  function renderEmotionPicker(decision, shown) {
    const fieldset = $("decision-emotions");
    fieldset.querySelectorAll("label").forEach((label) => label.remove());
    decision.emotions.forEach((e) => {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.value = e.class_name;
      box.checked = shown.includes(e.class_name);
      box.addEventListener("change", () => {
        chosenEmotions = Array.from(fieldset.querySelectorAll("input:checked")).map((input) => input.value);
        rememberInUrl();
        renderDecision(lastData);
      });
      label.append(box, " " + e.label);
      fieldset.appendChild(label);
    });
  }

  // The verdict first: one sentence per chosen emotion, and beside it how many testers it takes.
  function renderDecision(data) {
    const decision = data.decision;
    $("decision").hidden = !decision;
    if (!decision) return;
    const shown = shownEmotions(decision);
    const list = $("decision-verdicts");
    list.replaceChildren();
    decision.emotions.filter((e) => shown.includes(e.class_name)).forEach((e) => {
      const li = document.createElement("li");
      li.textContent = e.sentence;
      li.className = e.clear ? "clear" : "unclear";
      li.dataset.testid = "decision-" + e.class_name;
      list.appendChild(li);
    });
    $("decision-method").textContent = decision.method_note;
    $("decision-basis").textContent = decision.basis_note;
    renderEmotionPicker(decision, shown);
    const plans = decision.plan.emotions.filter((p) => shown.includes(p.class_name));
    const plan = $("plan");
    plan.replaceChildren();
    plans.forEach((p) => {
      const paragraph = document.createElement("p");
      paragraph.textContent = p.sentences.join(" ");
      paragraph.dataset.testid = "plan-" + p.class_name;
      plan.appendChild(paragraph);
    });
    const assumptions = $("plan-assumptions");
    assumptions.replaceChildren();
    new Set(plans.flatMap((p) => p.assumptions)).forEach((text) => {
      const li = document.createElement("li");
      li.textContent = text;
      assumptions.appendChild(li);
    });
    // The input takes "2.5" whatever the page's language; the server echoes the difference it used.
    if (document.activeElement !== $("detect-input")) $("detect-input").value = String(Math.round(decision.plan.detect * 1000) / 10);
  }

  // Per group of the split: its testers' verdict and per-variant figures, or the refusal of a group
  // too small to show (the API sends no figure for it, not even its size).
  function renderSplit(data) {
    const split = data.split;
    $("split").hidden = !split;
    const holder = $("split-groups");
    holder.replaceChildren();
    if (!split) return;
    $("split-question").textContent = split.question_text;
    split.groups.forEach((group) => {
      const box = document.createElement("div");
      box.className = "split-group";
      box.dataset.testid = "split-group";
      const heading = document.createElement("h3");
      heading.textContent = group.shown ? group.choice + " · " + T.testers + ": " + group.testers : group.choice;
      box.appendChild(heading);
      if (!group.shown) {
        const refusal = document.createElement("p");
        refusal.className = "note";
        refusal.textContent = group.error.message;
        box.appendChild(refusal);
        holder.appendChild(box);
        return;
      }
      const verdict = group.verdict;
      if (verdict) {
        const shown = shownEmotions(verdict);
        const list = document.createElement("ul");
        list.className = "verdicts";
        verdict.emotions.filter((e) => shown.includes(e.class_name)).forEach((e) => {
          const li = document.createElement("li");
          li.textContent = e.sentence;
          li.className = e.clear ? "clear" : "unclear";
          list.appendChild(li);
        });
        box.appendChild(list);
      }
      const shares = {};
      (group.estimated_shares ? group.estimated_shares.variants : []).forEach((v) => v.classes.forEach((c) => {
        shares[v.id + ":" + c.class_name] = c;
      }));
      const shown = verdict ? shownEmotions(verdict) : ["happy", "sad"];
      const rows = [];
      group.variants.forEach((v) => v.classes.filter((c) => shown.includes(c.class_name)).forEach((c) => {
        const share = shares[v.id + ":" + c.class_name];
        rows.push([v.label, c.label, pct(c.tester_mean.mean), interval(c.tester_mean, pct),
          share ? pct(share.share) : "–", share ? interval(share, pct) : "–"]);
      }));
      const figures = document.createElement("table");
      table(figures, [T.variant, T.emotion, T.tester_mean, T.interval, T.estimated_share, T.interval], rows);
      box.appendChild(figures);
      holder.appendChild(box);
    });
  }

  function renderCalibration(data) {
    const c = data.calibration;
    $("calibration-name").textContent = c.label;
    $("stale-note").hidden = !c.stale_note;
    $("stale-note").textContent = c.stale_note;
  }

  function renderSecondOpinion(data) {
    const verdict = data.second_opinion;
    $("second-opinion").hidden = !verdict;
    const list = $("second-opinion-list");
    list.replaceChildren();
    if (!verdict) return;
    verdict.sentences.forEach((s) => {
      const li = document.createElement("li");
      li.textContent = s.sentence;
      li.className = s.flipped ? "unclear" : "clear";
      li.dataset.testid = "second-opinion-" + s.class_name;
      list.appendChild(li);
    });
  }

  function renderQuality(data) {
    const list = $("quality");
    list.replaceChildren();
    if (!data.counting_quality.length) {
      const li = document.createElement("li");
      li.textContent = T.no_quality;
      list.appendChild(li);
    }
    data.counting_quality.forEach((q) => {
      const li = document.createElement("li");
      li.textContent = q.sentence;
      li.dataset.testid = "quality-" + q.class_name;
      list.appendChild(li);
    });
    table($("table-quality"), [T.emotion, T.faces, T.counted, T.recall, T.precision, T.interval],
      data.counting_quality.map((q) => [q.label, String(q.faces), String(q.counted), pct(q.recall), pct(q.precision),
        q.precision === null ? "–" : pct(q.precision_low) + " – " + pct(q.precision_high)]));
  }

  function renderShares(data) {
    const shares = data.estimated_shares;
    const note = $("shares-note");
    const list = $("share-verdicts");
    list.replaceChildren();
    if (!shares || !shares.testers) {
      note.hidden = false;
      note.textContent = shares ? T.no_share_testers : T.no_shares;
      Plotly.purge($("chart-shares"));
      table($("table-shares"), [], []);
      table($("table-share-comparisons"), [], []);
      return;
    }
    note.hidden = false;
    note.textContent = shares.note;
    const traces = shares.variants.map((variant, i) => ({
      type: "bar", name: variant.label, x: variant.classes.map((c) => c.label), y: variant.classes.map((c) => c.share),
      text: variant.classes.map((c) => pct(c.share)), textposition: "outside",
      marker: { color: COLOURS[i % COLOURS.length], pattern: { shape: PATTERNS[i % PATTERNS.length] } },
      error_y: {
        type: "data", symmetric: false,
        array: variant.classes.map((c) => c.high - c.share), arrayminus: variant.classes.map((c) => c.share - c.low),
      },
    }));
    plot("chart-shares", traces, { barmode: "group", yaxis: { title: { text: T.estimated_share }, tickformat: ".0%", rangemode: "tozero" } });
    shares.comparisons.filter((c) => ["happy", "sad"].includes(c.class_name)).forEach((c) => {
      const li = document.createElement("li");
      li.textContent = c.verdict;
      li.className = c.clear ? "clear" : "unclear";
      li.dataset.testid = "share-verdict-" + c.class_name;
      list.appendChild(li);
    });
    const rows = [];
    shares.variants.forEach((v) => v.classes.forEach((c) => rows.push([
      v.label, c.label, { text: pct(c.share), testid: "share-" + v.id + "-" + c.class_name }, interval(c, pct),
    ])));
    table($("table-shares"), [T.variant, T.emotion, T.estimated_share, T.interval], rows);
    table($("table-share-comparisons"), [T.comparison, T.difference, T.interval, T.verdict],
      shares.comparisons.map((c) => [c.label_b + " − " + c.label_a + " (" + c.label + ")", num(c.difference * 100, 1),
        interval(c, (x) => num(x * 100, 1)), c.verdict]));
  }

  function renderComparisons(data) {
    const list = $("verdicts");
    list.replaceChildren();
    const headline = data.comparisons.filter((c) => c.headline);
    headline.forEach((c) => {
      const li = document.createElement("li");
      li.textContent = c.verdict;
      li.className = c.clear ? "clear" : "unclear";
      li.dataset.testid = "verdict-" + c.class_name;
      list.appendChild(li);
    });
    const name = (c) => c.label_b + " − " + c.label_a + " (" + c.label + ")";
    const labels = headline.map((c) => wrap(name(c)));
    const rowHeight = (lines) => Math.max(50, 20 * lines.length + 14);
    plot("chart-differences", [{
      type: "scatter", mode: "markers", y: labels.map((lines) => lines.join("<br>")),
      x: headline.map((c) => (c.mean_difference === null ? null : c.mean_difference * 100)),
      marker: { size: 12, symbol: "diamond", color: COLOURS[0] },
      error_x: {
        type: "data", symmetric: false,
        array: headline.map((c) => (c.high === null ? 0 : (c.high - c.mean_difference) * 100)),
        arrayminus: headline.map((c) => (c.low === null ? 0 : (c.mean_difference - c.low) * 100)),
      },
    }], {
      xaxis: { title: { text: T.difference }, zeroline: true, zerolinewidth: 2 },
      // A fixed category range keeps each row's label inside its row, also with nothing to draw.
      yaxis: { automargin: true, range: [-0.5, labels.length - 0.5] },
      height: 90 + labels.reduce((sum, lines) => sum + rowHeight(lines), 0),
      margin: { l: 20, t: 10 }, showlegend: false,
    }, headline.length ? (headline.every((c) => missing(c.mean_difference)) ? { xaxis: "points" } : null)
      : { xaxis: "points", yaxis: "count" });
    table($("table-comparisons"), [T.comparison, T.testers, T.difference, T.interval, T.p_value, T.verdict],
      data.comparisons.map((c) => [
        name(c), String(c.n), c.mean_difference === null ? "–" : num(c.mean_difference * 100, 1),
        interval(c, (x) => num(x * 100, 1)), c.p_value === null ? "–" : num(c.p_value, 3),
        { text: c.verdict, testid: "comparison-" + c.class_name },
      ]));
  }

  function renderOrder(data) {
    const order = data.order_effect;
    if (!order || !order.positions.length) {
      $("order-summary").textContent = T.not_enough;
      plot("chart-order", [], { yaxis: { title: { text: T.happy_ratio } } }, { yaxis: "share", xaxis: "count" });
      table($("table-order"), [], []);
      return;
    }
    const traces = order.by_variant.map((variant, i) => ({
      type: "bar", name: variant.label, x: variant.positions.map((p) => T.position + " " + p.position),
      y: variant.positions.map((p) => p.mean), text: variant.positions.map((p) => pct(p.mean)), textposition: "outside",
      marker: { color: COLOURS[i % COLOURS.length], pattern: { shape: PATTERNS[i % PATTERNS.length] } },
    }));
    plot("chart-order", traces, { barmode: "group", yaxis: { title: { text: T.happy_ratio }, tickformat: ".0%", rangemode: "tozero" } });
    const f = order.first_vs_second;
    $("order-summary").textContent = f && f.mean_difference !== null
      ? T.first_vs_second + ": " + num(f.mean_difference * 100, 1) + " (" + T.interval + " " + interval(f, (x) => num(x * 100, 1)) +
        (f.p_value === null ? "" : "; p = " + num(f.p_value, 3)) + ")"
      : T.not_enough;
    const rows = order.positions.map((p) => ["—", p.position, String(p.n), pct(p.mean), interval(p, pct)]);
    order.by_variant.forEach((v) => v.positions.forEach((p) => rows.push([v.label, p.position, String(p.n), pct(p.mean), interval(p, pct)])));
    table($("table-order"), [T.variant, T.position, T.testers, T.happy_ratio, T.interval], rows);
  }

  function renderSurvey(data) {
    const container = $("survey");
    // The survey's charts are made anew on every refresh: purge the old ones first, or each keeps
    // its window resize listener (responsive plots) and stays in memory while the dashboard is live.
    container.querySelectorAll(".js-plotly-plot").forEach((chart) => Plotly.purge(chart));
    container.replaceChildren();
    data.survey.questions.forEach((question, q) => {
      const block = document.createElement("div");
      const heading = document.createElement("h3");
      heading.textContent = question.text;
      const chart = document.createElement("div");
      chart.id = "chart-survey-" + q;
      chart.className = "chart";
      const details = document.createElement("details");
      const summary = document.createElement("summary");
      summary.textContent = T.mean_rating;
      const tableElement = document.createElement("table");
      details.open = true;
      details.append(summary, tableElement);
      const corr = document.createElement("p");
      const c = question.correlation;
      corr.textContent = T.correlation + ": " + (c.spearman_rho === null ? T.not_enough
        : T.spearman + " = " + num(c.spearman_rho, 2) + " (p = " + num(c.spearman_p, 3) + "), " +
          T.pearson + " = " + num(c.pearson_r, 2) + " (p = " + num(c.pearson_p, 3) + "), n = " + c.n);
      block.append(heading, chart, details, corr);
      container.appendChild(block);
      plot(chart.id, question.variants.map((v, i) => ({
        type: "bar", name: v.label + " (" + T.mean_rating + " " + num(v.mean, 2) + ")",
        x: v.distribution.map((d) => d.rating), y: v.distribution.map((d) => d.count),
        text: v.distribution.map((d) => String(d.count)), textposition: "outside",
        marker: { color: COLOURS[i % COLOURS.length], pattern: { shape: PATTERNS[i % PATTERNS.length] } },
      })), { barmode: "group", xaxis: { title: { text: T.rating }, dtick: 1 }, yaxis: { title: { text: T.answers }, rangemode: "tozero" }, height: 260 },
      question.variants.every((v) => !v.n) ? { yaxis: "count" } : null);
      table(tableElement, [T.variant, T.answers, T.mean_rating, T.interval],
        question.variants.map((v) => [v.label, String(v.n), num(v.mean, 2), interval(v, (x) => num(x, 2))]));
    });
    const s = data.survey;
    $("comments-note").textContent = s.comments_note;
    table($("table-comments"), [T.tester, T.variant, T.question, T.comment],
      s.comments.map((c) => [c.tester, c.variant, c.question, c.comment]));
  }

  // Each tester against their own resting face: the numbers per variant and emotion, the sentences from the server.
  function renderBaseline(data) {
    const baseline = data.baseline;
    $("baseline").hidden = !baseline;
    if (!baseline) return;
    $("baseline-sentence").textContent = baseline.sentence;
    $("baseline-posed").textContent = baseline.posed_sentence;
    $("baseline-posed").hidden = !baseline.posed_sentence;
    const points = (x) => num(x * 100, 1);
    const rows = [];
    if (baseline.counted_with_baseline) {
      baseline.variants.forEach((v) => data.class_names.forEach((c) => {
        const row = v.classes[c.class_name];
        if (!row) return;
        rows.push([
          v.label, c.label, pct(row.share), pct(row.resting),
          { text: missing(row.relative.mean) ? "–" : points(row.relative.mean), testid: "baseline-" + v.variant + "-" + c.class_name },
          interval(row.relative, points), String(v.testers),
        ]);
      }));
    }
    table($("table-baseline"), [T.variant, T.emotion, T.on_variant, T.at_rest, T.difference, T.interval, T.testers], rows);
  }

  function sentenceList(items) {
    const list = document.createElement("ul");
    list.className = "verdicts";
    items.forEach(([text, agreement, testid]) => {
      const li = document.createElement("li");
      li.textContent = text;
      // An interval that leaves out zero is a finding, either way round.
      const clear = !missing(agreement.low) && (agreement.low > 0 || agreement.high < 0);
      li.className = clear ? "clear" : "unclear";
      li.dataset.testid = testid;
      list.appendChild(li);
    });
    return list;
  }

  // What testers said beside what their faces showed, per rating-scale question.
  function renderSayFace(data) {
    const sayFace = data.say_face;
    const container = $("say-face-questions");
    container.replaceChildren();
    $("say-face").hidden = !sayFace;
    if (!sayFace) return;
    $("say-face-note").textContent = sayFace.note;
    $("say-face-note").hidden = !sayFace.note;
    const rating = (x) => num(x, 2);
    const points = (x) => num(x * 100, 1);
    const rho = (x) => num(x, 2);
    sayFace.questions.forEach((question) => {
      const heading = document.createElement("h3");
      heading.textContent = question.text;
      const sentences = sentenceList([
        ...question.variants.map((v) => [v.agreement.sentence, v.agreement, "say-face-" + v.variant_id]),
        ...question.pairs.map((p) => [p.agreement.sentence, p.agreement, "say-face-" + p.variant_a + "-" + p.variant_b]),
      ]);
      const details = document.createElement("details");
      const summary = document.createElement("summary");
      summary.textContent = T.table_view;
      const variants = document.createElement("table");
      const pairs = document.createElement("table");
      details.open = true;
      details.append(summary, variants, pairs);
      table(variants, [T.variant, T.mean_rating_counted, T.interval, T.happy_share, T.interval, T.spearman, T.interval, T.testers],
        question.variants.map((v) => [
          v.label, rating(v.rating_counted.mean), interval(v.rating_counted, rating),
          pct(v.happy_share.mean), interval(v.happy_share, pct),
          { text: rho(v.agreement.rho), testid: "say-face-rho-" + v.variant_id }, interval(v.agreement, rho), String(v.agreement.n),
        ]));
      table(pairs, [T.comparison, T.rating_difference, T.interval, T.happy_difference, T.interval, T.spearman, T.interval, T.testers],
        question.pairs.map((p) => [
          p.label_b + " − " + p.label_a, rating(p.rating_difference.mean), interval(p.rating_difference, rating),
          points(p.happy_difference.mean), interval(p.happy_difference, points),
          rho(p.agreement.rho), interval(p.agreement, rho), String(p.agreement.n),
        ]));
      const disagreeing = document.createElement("h4");
      disagreeing.textContent = T.disagreements;
      const listed = document.createElement(question.disagreements.length ? "ul" : "p");
      if (question.disagreements.length) {
        listed.className = "sentences";
        question.disagreements.forEach((entry) => {
          const li = document.createElement("li");
          li.textContent = entry.sentence;
          li.dataset.testid = "say-face-disagreement";
          listed.appendChild(li);
        });
      } else {
        listed.className = "muted";
        listed.textContent = question.disagreements_note;
      }
      const block = document.createElement("div");
      block.append(heading, sentences, details, disagreeing, listed);
      container.appendChild(block);
    });
  }

  // Where each variant stands among the organisation's finished variants.
  function renderNorms(data) {
    const norms = data.norms;
    $("norms").hidden = !norms;
    if (!norms) return;
    [["norms-sentences", norms.sentences], ["norms-notes", norms.notes]].forEach(([id, texts]) => {
      const list = $(id);
      list.replaceChildren();
      texts.forEach((text) => {
        const li = document.createElement("li");
        li.textContent = text;
        li.dataset.testid = id;
        list.appendChild(li);
      });
    });
    const rows = [];
    norms.variants.forEach((v) => {
      const r = v.rating;
      const onScale = (x) => (missing(x) ? "–" : num(x, 1) + " (" + r.scale_min + "–" + r.scale_max + ")");
      [[T.happy_share, v.happy_share, pct, "happy_share"], [T.mean_rating, r, onScale, "rating"]].forEach(([name, f, format, key]) => {
        rows.push([
          v.label, name, format(f.value),
          { text: missing(f.percentile) ? "–" : num(f.percentile, 0), testid: "norms-" + v.variant_id + "-" + key },
          String(f.earlier), format(f.median),
        ]);
      });
    });
    table($("table-norms"), [T.variant, T.figure, T.value, T.percentile_rank, T.earlier_variants, T.earlier_median], rows);
  }

  function renderModelName(model) {
    // The name links to the model's card (training data, licence, limitations).
    const holder = $("model-name");
    holder.replaceChildren();
    if (!model) return;
    const link = document.createElement("a");
    link.href = model.card_url;
    link.title = T.model_card;
    link.textContent = model.name + " " + model.version;
    holder.appendChild(link);
  }

  function render(data) {
    renderModelName(data.model);
    $("no-model").hidden = Boolean(data.model);
    $("no-model").textContent = data.model ? "" : T.no_model;
    lastData = data;
    renderDecision(data);
    renderSplit(data);
    renderProgress(data);
    renderCalibration(data);
    renderRatios(data);
    renderQuality(data);
    renderSecondOpinion(data);
    renderShares(data);
    renderBaseline(data);
    renderComparisons(data);
    renderOrder(data);
    renderSurvey(data);
    renderSayFace(data);
    renderNorms(data);
    $("updated-at").textContent = T.updated + " " + clock.format(new Date());
    root.dataset.loaded = String(Number(root.dataset.loaded || 0) + 1);
  }

  // An export's link may carry the audience already (the page renders it so).
  function withThreshold(url) {
    return threshold === null ? url : url + (url.includes("?") ? "&" : "?") + "threshold=" + encodeURIComponent(threshold);
  }

  function dataUrl() {
    const query = new URLSearchParams();
    if (threshold !== null) query.set("threshold", threshold);
    if (detect) query.set("detect", detect);
    // The audience and the split come from the page's own URL (its form reloads the page).
    ["audience", "split"].forEach((name) => {
      if (pageQuery.get(name)) query.set(name, pageQuery.get(name));
    });
    const text = query.toString();
    return text ? apiUrl + "?" + text : apiUrl;
  }

  async function load() {
    // One request at a time; events that arrive meanwhile cause exactly one more.
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    try {
      const response = await fetch(dataUrl(), { credentials: "same-origin", headers: { Accept: "application/json" } });
      const body = await response.json();
      if (!response.ok) {
        const fields = (body.extra && body.extra.fields) || {};
        const target = response.status !== 400 ? $("load-error") : fields.detect ? $("detect-error") : $("threshold-error");
        target.textContent = body.message || T.load_failed;
        target.hidden = false;
        return;
      }
      $("threshold-error").hidden = true;
      $("detect-error").hidden = true;
      $("load-error").hidden = true;
      render(body);
    } catch (error) {
      $("load-error").textContent = T.load_failed;
      $("load-error").hidden = false;
    } finally {
      inFlight = false;
      if (again) {
        again = false;
        load();
      }
    }
  }

  // Throttle, not debounce: while testers stream frames, events never pause, and a debounce
  // would postpone the refresh for ever. At most one refetch per REFRESH_MS, however many events.
  function scheduleLoad() {
    if (refetchTimer !== null) return;
    refetchTimer = setTimeout(() => {
      refetchTimer = null;
      load();
    }, REFRESH_MS);
  }

  function connect(delay) {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + window.location.host + root.dataset.socketPath);
    socket.addEventListener("open", () => {
      delay = RECONNECT_FIRST_MS; // connected: the next drop starts the back-off afresh
      $("live-status").textContent = T.live_on;
      root.dataset.live = "on";
    });
    socket.addEventListener("message", scheduleLoad);
    socket.addEventListener("close", (event) => {
      root.dataset.live = "off";
      if (event.code === 4403 || event.code === 4404) {
        $("live-status").textContent = T.live_refused;
        return;
      }
      $("live-status").textContent = T.live_off;
      // Reconnect with back-off, and refetch once connected in case we missed events meanwhile.
      setTimeout(() => {
        connect(Math.min(delay * 2, RECONNECT_MAX_MS));
        scheduleLoad();
      }, delay);
    });
  }

  function updateExportLinks() {
    document.querySelectorAll("a.export").forEach((a) => { a.href = withThreshold(a.dataset.base); });
    $("json-link").href = dataUrl();
  }

  $("threshold-form").addEventListener("submit", (event) => {
    event.preventDefault();
    threshold = $("threshold-input").value;
    updateExportLinks();
    load();
  });
  $("detect-form").addEventListener("submit", (event) => {
    event.preventDefault();
    detect = $("detect-input").value || null;
    rememberInUrl();
    updateExportLinks();
    load();
  });
  $("threshold-reset").addEventListener("click", () => {
    threshold = null;
    $("threshold-input").value = defaultThreshold;
    updateExportLinks();
    load();
  });

  updateExportLinks();
  load();
  connect(RECONNECT_FIRST_MS);
})();
