"use strict";
// Draws the timeline from the JSON island #report-data. Times are simulated ms, or positions in
// the history's source when the island's unit says "position" (whole numbers, never scaled).
// Each key's bars, axis and bands are drawn in an SVG of their own, which the browser keeps as
// a layer: panning and zooming only move and stretch that layer (a CSS transform, no repaint)
// and the bars of the visible window are redrawn once the gesture rests, so a 10,000-op page
// pans at frame rate. Past AGG ops in view, the keys with the most are drawn as per-lane
// density (a path per shade) until zoomed in.
(function () {
  const started = performance.now();
  const D = JSON.parse(document.getElementById("report-data").textContent);
  const NS = "http://www.w3.org/2000/svg";
  const LANE = 22, AXIS = 20, LEFT = 96, AGG = 10000, REST_MS = 120;
  const root = document.getElementById("timeline");
  const tip = document.getElementById("tip");
  const POS = D.unit === "position", PER = POS ? 1 : 1e6; // a record's times per unit
  const pad = Math.max((D.t1 - D.t0) * 0.02, 0.001);
  const full = [D.t0 - pad, D.t1 + pad];
  let view = full.slice();
  let drawn = null; // the view the bars were last drawn for
  let marks = new Map();
  let chosen = null;
  const secs = [];

  function el(name, attrs, parent) {
    const e = document.createElementNS(NS, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function width() { return Math.max(root.clientWidth || 0, 480); }
  function niceStep(span, ticks) {
    const raw = span / Math.max(ticks, 1), p = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5]) if (m * p >= raw) return m * p;
    return 10 * p;
  }
  function escapeText(t) { return t.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"); }
  function fmt(v) { return (POS ? Math.round(v) : Math.round(v * 1000) / 1000).toString(); }
  // A time and a range of times in words: `42 ms`, `position 42`; `1 to 2 ms`, `positions 1 to 2`.
  function when(t) { return POS ? "position " + fmt(t) : fmt(t) + " ms"; }
  function range(a, b) { return POS ? "positions " + fmt(a) + " to " + fmt(b) : fmt(a) + " to " + fmt(b) + " ms"; }

  // An op's record, rebuilt from its row of the op table: the fields of its shape, in order.
  const coded = new Set(D.ops.coded), afterInvoke = new Set(D.ops.after_invoke);
  // Undo the differences from the previous row once, in row order.
  for (const f of D.ops.from_previous) {
    const pos = D.ops.shapes.map(function (shape) { return shape.indexOf(f) + 1; });
    let running = 0;
    for (const row of D.ops.rows) {
      const k = pos[row[0]];
      if (k > 0) { running += row[k]; row[k] = running; }
    }
  }
  function record(i) {
    const row = D.ops.rows[i], shape = D.ops.shapes[row[0]], out = {};
    shape.forEach(function (f, k) {
      out[D.ops.fields[f]] = coded.has(f) ? D.ops.strings[row[k + 1]] : row[k + 1];
    });
    shape.forEach(function (f) {
      const name = D.ops.fields[f];
      if (afterInvoke.has(f) && typeof out[name] === "number") out[name] += out.invoke;
    });
    return out;
  }
  // Bars arrive as [row, lane, label]; drawing wants [row, id, lane, start, end, outcome, label]
  // with times in the page's unit, read from the op's own row.
  const fi = function (name) { return D.ops.fields.indexOf(name); };
  const at = D.ops.shapes.map(function (shape) {
    const pos = function (name) { const k = shape.indexOf(fi(name)); return k < 0 ? -1 : k + 1; };
    return [pos("id"), pos("invoke"), pos("complete"), pos("outcome")];
  });
  const completeAfter = afterInvoke.has(fi("complete")), outcomeCoded = coded.has(fi("outcome"));
  function expand(s) {
    s.bars = s.bars.map(function (b) {
      const row = D.ops.rows[b[0]], p = at[row[0]], inv = row[p[1]];
      const c = p[2] < 0 ? null : row[p[2]];
      const end = c === null ? null : (completeAfter ? inv + c : c) / PER;
      const outcome = outcomeCoded ? D.ops.strings[row[p[3]]] : row[p[3]];
      return [b[0], row[p[0]], b[1], inv / PER, end, outcome, D.labels[b[2]]];
    });
  }

  function build() {
    D.sections.forEach(function (s) {
      expand(s);
      const box = document.createElement("section");
      box.className = "key";
      box.dataset.key = s.key;
      const h = document.createElement("h3");
      h.textContent = "key " + s.key + " · " + s.bars.length + " ops · " + s.lanes.length + " clients";
      box.appendChild(h);
      const note = document.createElement("p");
      note.className = "note";
      note.hidden = true;
      box.appendChild(note);
      const height = AXIS + s.lanes.length * LANE + 2;
      const frame = document.createElement("div");
      frame.className = "lanes-box";
      box.appendChild(frame);
      // The lanes and their labels stay put; the plot beside the labels is what moves.
      const svg = el("svg", { class: "lanes", height: height }, frame);
      const bg = el("g", { class: "bg" }, svg);
      s.lanes.forEach(function (c, i) {
        el("rect", { class: "lane " + (i % 2 ? "odd" : "even"), x: 0, y: AXIS + i * LANE, height: LANE, width: "100%" }, bg);
        el("text", { class: "lane-label", x: 4, y: AXIS + i * LANE + 15 }, bg).textContent = "client " + c;
      });
      const pan = document.createElement("div");
      pan.className = "pan";
      pan.style.left = LEFT + "px";
      pan.style.height = height + "px";
      frame.appendChild(pan);
      const plot = el("svg", { class: "moving", height: height }, pan);
      const moving = [el("g", { class: "axis" }, plot), el("g", { class: "bands" }, plot), el("g", { class: "bars" }, plot)];
      root.appendChild(box);
      secs.push({ s: s, svg: svg, plot: plot, moving: moving, note: note, lanesH: s.lanes.length * LANE });
    });
  }

  function draw() {
    const W = width(), pw = W - LEFT, k = pw / (view[1] - view[0]);
    // x within the plot, which starts right of the lane labels.
    const X = function (t) { return (t - view[0]) * k; };
    // Positions are whole: no tick between two.
    const step = Math.max(niceStep(view[1] - view[0], pw / 110), POS ? 1 : 0);
    const openEnd = full[1];
    const inView = secs.map(function (sec) {
      return sec.s.bars.filter(function (b) { return (b[4] === null ? openEnd : b[4]) >= view[0] && b[3] <= view[1]; });
    });
    // Op by op for the keys with the fewest ops in view, as long as the page stays within AGG
    // ops drawn one by one; density for the rest.
    const dense = new Set();
    let budget = AGG;
    secs.map(function (_, i) { return i; })
      .sort(function (a, b) { return inView[a].length - inView[b].length || a - b; })
      .forEach(function (i) { if (inView[i].length <= budget) budget -= inView[i].length; else dense.add(i); });
    secs.forEach(function (sec, si) {
      const [axis, bands, bars] = sec.moving;
      sec.svg.setAttribute("width", W);
      sec.plot.setAttribute("width", pw);
      sec.plot.style.transform = "";
      for (const g of sec.moving) g.replaceChildren();
      for (let t = Math.ceil(view[0] / step) * step; t <= view[1]; t += step) {
        const x = X(t);
        el("line", { x1: x, x2: x, y1: AXIS - 4, y2: AXIS + sec.lanesH }, axis);
        el("text", { x: x + 2, y: 12 }, axis).textContent = when(t);
      }
      for (const b of D.bands) {
        if (b.end < view[0] || b.start > view[1]) continue;
        const r = el("rect", { class: "band fault-" + b.fault, "data-index": b.index, x: X(b.start), y: AXIS, width: Math.max(X(b.end) - X(b.start), 2), height: sec.lanesH }, bands);
        el("title", {}, r).textContent = b.fault + " " + range(b.start, b.end) + ": " + b.touched;
      }
      const visible = inView[si];
      sec.note.hidden = !dense.has(si);
      if (dense.has(si)) { aggregate(sec, visible, X, pw, bars); return; }
      // One markup string parsed once is several times faster than an element per call.
      const parts = [];
      for (const b of visible) {
        const x0 = X(b[3]), x1 = X(b[4] === null ? openEnd : b[4]), w = Math.max(x1 - x0, 1.5);
        const y = AXIS + b[2] * LANE + 3;
        let cls = "op " + b[5] + (b[4] === null ? " open" : "");
        const m = marks.get(b[1]);
        if (m) cls += " " + m; else if (marks.size) cls += " dim";
        parts.push('<rect class="' + cls + '" x="' + x0.toFixed(1) + '" y="' + y + '" width="' + w.toFixed(1) + '" height="' + (LANE - 6) + '" data-i="' + b[0] + '" data-id="' + b[1] + '"></rect>');
        if (w > 6.5 * b[6].length + 8) {
          parts.push('<text class="op-label" x="' + (Math.max(x0, 0) + 3).toFixed(1) + '" y="' + (y + 12) + '">' + escapeText(b[6]) + "</text>");
        }
      }
      bars.innerHTML = parts.join("");
    });
    drawn = view.slice();
    document.getElementById("view-range").textContent = range(view[0], view[1]);
  }

  // Too many ops to draw one by one: each lane's ops counted in 3-pixel columns, each column
  // shaded by its count in one of SHADES steps, and one path per shade and outcome (a few
  // dozen elements, where a rectangle per column made thousands).
  const SHADES = 8;
  function aggregate(sec, visible, X, pw, g) {
    const cols = Math.ceil(pw / 3), lanes = sec.s.lanes.length;
    const counts = new Uint32Array(cols * lanes), bad = new Uint32Array(cols * lanes);
    for (const b of visible) {
      const c = Math.min(cols - 1, Math.max(0, Math.floor(X(b[3]) / 3)));
      counts[b[2] * cols + c]++;
      if (b[5] !== "ok") bad[b[2] * cols + c]++;
    }
    let max = 1;
    for (const n of counts) max = Math.max(max, n);
    const paths = new Map();
    for (let l = 0; l < lanes; l++) for (let c = 0; c < cols; c++) {
      const n = counts[l * cols + c];
      if (!n) continue;
      const cls = bad[l * cols + c] * 2 > n ? "agg bad" : "agg", shade = Math.ceil(SHADES * n / max);
      const key = cls + shade;
      if (!paths.has(key)) paths.set(key, { cls: cls, shade: shade, d: [] });
      paths.get(key).d.push("M" + c * 3 + " " + (AXIS + l * LANE + 3) + "h3v" + (LANE - 6) + "h-3z");
    }
    const parts = [];
    for (const p of paths.values()) {
      parts.push('<path class="' + p.cls + '" fill-opacity="' + (0.2 + 0.8 * p.shade / SHADES).toFixed(2) + '" d="' + p.d.join("") + '"></path>');
    }
    g.innerHTML = parts.join("");
    sec.note.textContent = visible.length + " ops in view, drawn as density per lane; zoom in to below " + AGG + " ops in view to see each op.";
  }

  // Moves what was drawn for `drawn` to where `view` puts it, without redrawing: a point drawn
  // at x for time t belongs at (t - view[0]) * kv = x * kv / kd + (drawn[0] - view[0]) * kv.
  let rest = null;
  function move() {
    if (!drawn) return draw();
    const pw = width() - LEFT, kd = pw / (drawn[1] - drawn[0]), kv = pw / (view[1] - view[0]);
    const t = "translateX(" + ((drawn[0] - view[0]) * kv).toFixed(2) + "px) scaleX(" + kv / kd + ")";
    for (const sec of secs) sec.plot.style.transform = t;
    clearTimeout(rest);
    rest = setTimeout(draw, REST_MS);
  }
  function setView(a, b) {
    const span = Math.max(b - a, POS ? 1 : 1e-6);
    view = [a, a + span];
    move();
  }
  function zoom(f, at) {
    const c = at === undefined ? (view[0] + view[1]) / 2 : at;
    setView(c - (c - view[0]) * f, c + (view[1] - c) * f);
  }
  function timeAt(clientX) {
    const r = root.getBoundingClientRect();
    return view[0] + (clientX - r.left - LEFT) / (width() - LEFT) * (view[1] - view[0]);
  }

  root.addEventListener("wheel", function (e) {
    e.preventDefault();
    if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
      const d = (e.deltaX || e.deltaY) / (width() - LEFT) * (view[1] - view[0]);
      setView(view[0] + d, view[1] + d);
    } else zoom(Math.exp(e.deltaY * 0.002), timeAt(e.clientX));
  }, { passive: false });
  let drag = null;
  root.addEventListener("pointerdown", function (e) { drag = { x: e.clientX, v: view.slice() }; root.classList.add("dragging"); });
  window.addEventListener("pointermove", function (e) {
    if (drag) {
      const d = (e.clientX - drag.x) / (width() - LEFT) * (drag.v[1] - drag.v[0]);
      setView(drag.v[0] - d, drag.v[1] - d);
    }
  });
  window.addEventListener("pointerup", function () { drag = null; root.classList.remove("dragging"); });
  document.getElementById("zoom-in").onclick = function () { zoom(0.5); };
  document.getElementById("zoom-out").onclick = function () { zoom(2); };
  document.getElementById("zoom-fit").onclick = function () { setView(full[0], full[1]); };
  document.getElementById("zoom-witness").onclick = function () {
    if (!chosen || !chosen.ops.length) return;
    let a = Infinity, b = -Infinity;
    for (const sec of secs) for (const bar of sec.s.bars) if (marks.has(bar[1])) {
      a = Math.min(a, bar[3]);
      b = Math.max(b, bar[4] === null ? D.t1 : bar[4]);
    }
    if (a <= b) { const p = Math.max((b - a) * 0.15, 0.01); setView(a - p, b + p); }
  };
  window.addEventListener("keydown", function (e) {
    const span = view[1] - view[0];
    if (e.key === "+" || e.key === "=") zoom(0.5);
    else if (e.key === "-") zoom(2);
    else if (e.key === "ArrowLeft") setView(view[0] - span / 10, view[1] - span / 10);
    else if (e.key === "ArrowRight") setView(view[0] + span / 10, view[1] + span / 10);
  });
  window.addEventListener("resize", function () { clearTimeout(rest); rest = setTimeout(draw, REST_MS); });

  root.addEventListener("mouseover", function (e) {
    const i = e.target.getAttribute && e.target.getAttribute("data-i");
    if (i === null || i === undefined || drag) { tip.hidden = true; return; }
    tip.textContent = JSON.stringify(record(+i), null, 1).replace(/\n\s*/g, " ");
    tip.hidden = false;
  });
  root.addEventListener("mousemove", function (e) {
    if (tip.hidden) return;
    tip.style.left = Math.min(e.clientX + 14, window.innerWidth - 570) + "px";
    tip.style.top = (e.clientY + 14) + "px";
  });
  root.addEventListener("mouseleave", function () { tip.hidden = true; });

  // The guarantee switch: highlight one guarantee's witness.
  function choose(name) {
    chosen = D.witnesses.find(function (w) { return w.guarantee === name; }) || null;
    marks = new Map();
    const box = document.getElementById("witness"), prefix = document.getElementById("witness-prefix");
    prefix.replaceChildren();
    for (const b of document.querySelectorAll("#guarantees .guarantee")) b.classList.toggle("chosen", b.dataset.g === name);
    if (chosen) {
      chosen.ops.forEach(function (id) { marks.set(id, "witness"); });
      chosen.prefix.forEach(function (p) { marks.set(p[0], "witness prefix"); });
      if (chosen.culprit !== null) marks.set(chosen.culprit, "witness culprit");
      box.dataset.g = chosen.guarantee;
      box.classList.toggle("highlighted", chosen.state === "violated");
      document.getElementById("witness-sentence").textContent = chosen.sentence || (chosen.guarantee + " " + chosen.state + ".");
      const why = D.why[D.witnesses.indexOf(chosen)], whyBox = document.getElementById("witness-why");
      whyBox.hidden = !why;
      whyBox.textContent = why ? "In the store: " + why + "." : "";
      if (chosen.prefix.length || chosen.culprit !== null && chosen.guarantee === "linearizable") {
        const t = document.createElement("table");
        t.innerHTML = "<thead><tr><th>step</th><th>op</th><th>state after it</th></tr></thead>";
        const body = document.createElement("tbody");
        chosen.prefix.forEach(function (p, i) {
          const tr = document.createElement("tr");
          for (const v of [i + 1, "#" + p[0], p[1]]) { const td = document.createElement("td"); td.textContent = v; tr.appendChild(td); }
          body.appendChild(tr);
        });
        const tr = document.createElement("tr");
        for (const v of ["", "#" + chosen.culprit, "cannot be placed after the longest linearizable prefix"]) {
          const td = document.createElement("td"); td.textContent = v; td.className = "culprit"; tr.appendChild(td);
        }
        body.appendChild(tr);
        t.appendChild(body);
        const cap = document.createElement("p");
        cap.textContent = "Longest linearizable prefix on key " + chosen.key + " (" + chosen.prefix.length + " ops):";
        prefix.appendChild(cap);
        prefix.appendChild(t);
      }
    }
    draw();
  }
  for (const b of document.querySelectorAll("#guarantees .guarantee")) b.addEventListener("click", function () { choose(b.dataset.g); });

  // The message diagram: columns for the clients and each node, one row per busy millisecond.
  function drawDiagram() {
    const G = D.diagram, box = document.getElementById("diagram");
    if (!G || !box) return;
    const COL = 150, LEFTD = 64, TOP = 26, W = LEFTD + G.columns.length * COL, H = TOP + G.height + 8;
    const x = function (c) { return LEFTD + c * COL + COL / 2; };
    const p = ['<svg xmlns="' + NS + '" class="diagram" width="' + W + '" height="' + H + '" viewBox="0 0 ' + W + " " + H + '">',
      '<defs><marker id="ah" viewBox="0 0 6 6" refX="6" refY="3" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0L6,3L0,6z"></path></marker></defs>'];
    for (const s of G.shades) for (const c of s[0]) {
      p.push('<rect class="band fault-' + s[3] + '" x="' + (LEFTD + c * COL + 6) + '" y="' + (TOP + s[1]) + '" width="' + (COL - 12) + '" height="' + Math.max(s[2] - s[1], 2) + '"><title>' + s[3] + "</title></rect>");
    }
    G.columns.forEach(function (name, c) {
      p.push('<text class="col-name" x="' + x(c) + '" y="14" text-anchor="middle">' + escapeText(name) + "</text>");
      p.push('<line class="col-line" x1="' + x(c) + '" x2="' + x(c) + '" y1="' + (TOP - 6) + '" y2="' + H + '"></line>');
    });
    for (const t of G.ticks) p.push('<text class="tick" x="4" y="' + (TOP + t[0] + 11) + '">' + t[1] + " ms</text>");
    for (const a of G.arrows) {
      const x0 = x(a[0]), x1 = x(a[1]), y0 = TOP + a[2], y1 = TOP + a[3];
      const dropped = a[5] === "lost" || a[5] === "partitioned" || a[5] === "crashed";
      const ex = dropped ? (x0 + x1) / 2 : x1, ey = dropped ? (y0 + y1) / 2 : y1;
      p.push('<g class="msg fate-' + a[5] + '"><line x1="' + x0 + '" y1="' + y0 + '" x2="' + ex.toFixed(1) + '" y2="' + ey.toFixed(1) + '"' + (dropped ? "" : ' marker-end="url(#ah)"') + "></line>");
      if (dropped) p.push('<path class="cross" d="M' + (ex - 4) + "," + (ey - 4) + "l8,8m0,-8l-8,8" + '"></path>');
      p.push('<text x="' + ((x0 + ex) / 2).toFixed(1) + '" y="' + ((y0 + ey) / 2 - 2).toFixed(1) + '" text-anchor="middle">' + escapeText(a[4]) + (dropped ? " (" + a[5] + ")" : "") + "</text></g>");
    }
    for (const m of G.marks) {
      p.push('<g class="mark ev-' + m[2] + '"><circle cx="' + x(m[0]) + '" cy="' + (TOP + m[1]) + '" r="3.5"></circle><text x="' + (x(m[0]) + 6) + '" y="' + (TOP + m[1] + 4) + '">' + escapeText(m[3]) + "</text></g>");
    }
    p.push("</svg>");
    box.innerHTML = p.join("");
  }

  build();
  drawDiagram();
  const first = document.querySelector("#guarantees .guarantee.chosen");
  choose(first ? first.dataset.g : null);
  // #focus: open zoomed to the chosen guarantee's witness (links and screenshots use it).
  if (location.hash === "#focus") { document.getElementById("zoom-witness").click(); clearTimeout(rest); draw(); }
  document.body.dataset.renderMs = (performance.now() - started).toFixed(1);
  document.body.dataset.loadMs = performance.now().toFixed(1);
  // #record=I: open with op I's record in the hover box, as hovering its bar shows it.
  const shown = /^#record=(\d+)$/.exec(location.hash);
  if (shown && D.ops.rows[+shown[1]]) { tip.textContent = JSON.stringify(record(+shown[1])); tip.hidden = false; }
  // #bench: the cost of redrawing the bars at 5 successive pan positions.
  if (location.hash === "#bench") {
    const t = performance.now(), span = view[1] - view[0];
    for (let i = 1; i <= 5; i++) { view = [full[0] + i * span / 10, full[1] + i * span / 10]; draw(); }
    document.body.dataset.panDrawMs = ((performance.now() - t) / 5).toFixed(1);
    view = full.slice();
    draw();
  }
})();
