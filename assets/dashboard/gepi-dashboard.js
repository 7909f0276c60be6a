// GePI's dashboard: charts and tables from `stats`, for an analyst (perturbed
// counts, small cells suppressed) or an operational role (exact counts of what
// it reads). Chart.js is served by the binary from the pinned npm build: no
// network at run time. The page asks `/graphql` as the session opened here
// (demo login) or, without one, with the browser's session cookie (SPID).
// `window.gepiDashboard` keeps each table as received, for the browser test.
(function () {
  "use strict";
  var token = null;
  var state = { tables: {}, done: false, errors: [] };
  window.gepiDashboard = state;
  var status = document.getElementById("gepi-login-status");
  var panels = [
    { id: "cases-time", title: "Casi per mese della firma del PAD e stato", measure: "CASES", by: ["MONTH", "CASE_STATE"], chart: "bar", stacked: true },
    { id: "deadlines", title: "Scadenze dei casi oggi, per Comune (60/120 giorni dal PAD, verifica ogni 90)", measure: "CASES", by: ["COMUNE", "DEADLINE"], chart: "bar", stacked: true },
    { id: "puc", title: "Occupazione dei PUC: assegnazioni per fonte dei posti e stato", measure: "PUC_ASSIGNMENTS", by: ["PUC_SOURCE", "PUC_STATE"], chart: "bar", stacked: true },
    { id: "residency", title: "Esiti dei controlli anagrafici", measure: "RESIDENCY_CHECKS", by: ["RESIDENCY_OUTCOME"], chart: "bar" },
    { id: "meetings", title: "Incontri per mese e stato", measure: "MEETINGS", by: ["MONTH", "MEETING_STATE"], chart: "line" },
    { id: "cases-comune", title: "Casi per Comune e stato", measure: "CASES", by: ["COMUNE", "CASE_STATE"], chart: "table" },
  ];
  var QUERY =
    "query($m: StatsMeasure!, $by: [StatsDimension!]!) { stats(measure: $m, by: $by) { measure dimensions method threshold maxNoise " +
    "cells { coordinates { dimension value label } value flag } } }";
  var charts = [];

  function gql(query, variables) {
    var headers = { "Content-Type": "application/json", Accept: "application/graphql-response+json, application/json" };
    if (token) { headers.Authorization = "Bearer " + token; }
    return fetch("/graphql", {
      method: "POST",
      headers: headers,
      body: JSON.stringify({ query: query, variables: variables }),
      credentials: token ? "omit" : "same-origin",
    }).then(function (r) { return r.json(); });
  }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  var FLAGS = {
    SUPPRESSED_PRIMARY: "soppressa: meno di k unità",
    SUPPRESSED_SECONDARY: "soppressa: ricavabile dai totali",
    PERTURBED: "perturbata",
    EXACT: "esatta",
  };

  function note(t) {
    if (t.method === "CELL_KEY") {
      var n = t.cells.filter(function (c) { return c.value === null; }).length;
      return "Valori perturbati (cell key, al più ±" + t.maxNoise + " per cella elementare); celle sotto k = " + t.threshold +
        " e complementari soppresse (×): " + n + " su " + t.cells.length + ".";
    }
    return "Conteggi esatti dei dati del proprio ambito di visibilità.";
  }

  // The cells as a grid: the first dimension's values as rows, the second's as columns.
  function grid(t) {
    var rows = [], cols = [], index = {};
    t.cells.forEach(function (c) {
      var r = c.coordinates[0], k = c.coordinates[1];
      if (!rows.some(function (x) { return x.value === r.value; })) { rows.push(r); }
      if (k && !cols.some(function (x) { return x.value === k.value; })) { cols.push(k); }
      index[r.value + "\u0000" + (k ? k.value : "")] = c;
    });
    if (!cols.length) { cols.push({ value: "", label: "Totale" }); }
    return { rows: rows, cols: cols, at: function (r, k) { return index[r.value + "\u0000" + k.value]; } };
  }

  function table(t, g) {
    var tab = el("table", { class: "cells" });
    var head = el("tr");
    head.appendChild(el("th", {}, ""));
    g.cols.forEach(function (k) { head.appendChild(el("th", {}, k.label)); });
    tab.appendChild(head);
    g.rows.forEach(function (r) {
      var tr = el("tr");
      tr.appendChild(el("th", {}, r.label));
      g.cols.forEach(function (k) {
        var c = g.at(r, k);
        var td = c.value === null
          ? el("td", { class: "value suppressed", title: FLAGS[c.flag], "data-flag": c.flag }, "×")
          : el("td", { class: "value", title: FLAGS[c.flag], "data-flag": c.flag }, String(c.value));
        tr.appendChild(td);
      });
      tab.appendChild(tr);
    });
    return tab;
  }

  var COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79"];

  function chart(p, t, g, box) {
    var canvas = el("canvas", { "aria-label": p.title, role: "img" });
    box.appendChild(canvas);
    var datasets = g.cols.map(function (k, i) {
      return {
        label: k.label,
        data: g.rows.map(function (r) { var c = g.at(r, k); return c.value; }),
        backgroundColor: COLORS[i % COLORS.length],
        borderColor: COLORS[i % COLORS.length],
        spanGaps: false,
      };
    });
    charts.push(new Chart(canvas, {
      type: p.chart,
      data: { labels: g.rows.map(function (r) { return r.label; }), datasets: datasets },
      options: {
        animation: false,
        responsive: true,
        scales: { x: { stacked: !!p.stacked }, y: { stacked: !!p.stacked, beginAtZero: true } },
        plugins: { legend: { position: "bottom" } },
      },
    }));
  }

  function draw(p) {
    var box = document.getElementById("panel-" + p.id);
    return gql(QUERY, { m: p.measure, by: p.by }).then(function (r) {
      box.textContent = "";
      box.appendChild(el("h2", {}, p.title));
      if (r.errors) {
        var code = r.errors[0].extensions && r.errors[0].extensions.code;
        box.appendChild(el("p", { class: "unavailable" }, code === "FORBIDDEN" ? "Non disponibile per il proprio ruolo." : r.errors[0].message));
        if (code !== "FORBIDDEN") { state.errors.push(p.id + ": " + r.errors[0].message); }
        return;
      }
      var t = r.data.stats;
      state.tables[p.id] = t;
      box.appendChild(el("p", { class: "note" }, note(t)));
      var g = grid(t);
      if (p.chart !== "table") { chart(p, t, g, box); }
      box.appendChild(table(t, g));
    });
  }

  function load() {
    charts.forEach(function (c) { c.destroy(); });
    charts = [];
    state.tables = {};
    state.done = false;
    var main = document.getElementById("panels");
    main.textContent = "";
    panels.forEach(function (p) { main.appendChild(el("section", { id: "panel-" + p.id, class: "panel" })); });
    Promise.all(panels.map(draw)).then(function () { state.done = true; }, function (e) {
      state.errors.push(String(e));
      state.done = true;
    });
  }

  function whoami() {
    return gql("{ me { operator { displayName } profile { role } } }", {}).then(function (r) {
      var me = r.data && r.data.me;
      if (me && me.profile) {
        status.textContent = "Connesso come " + me.operator.displayName + " (" + me.profile.role + ")";
        load();
      } else if (!document.getElementById("gepi-login")) {
        status.textContent = "Accedere con SPID per vedere il cruscotto.";
      }
    });
  }
  whoami();

  var form = document.getElementById("gepi-login");
  if (!form) { return; }
  var select = form.querySelector("select");
  fetch("/auth/dev-login", { headers: { Accept: "application/json" } })
    .then(function (r) { return r.ok ? r.json() : []; })
    .then(function (choices) {
      choices.forEach(function (c) {
        var o = el("option", { value: JSON.stringify({ fiscalCode: c.fiscalCode, profileId: c.profileId }) }, c.role + " — " + c.displayName);
        select.appendChild(o);
      });
      form.hidden = choices.length === 0;
    });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    fetch("/auth/dev-login", { method: "POST", headers: { "Content-Type": "application/json" }, body: select.value, credentials: "omit" })
      .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
      .then(function (r) {
        if (!r.ok) { status.textContent = (r.body.error && r.body.error.message) || "accesso rifiutato"; return; }
        token = r.body.token;
        whoami();
      });
  });
})();
