// GePI's GraphiQL: the page's own script (the rest is GraphiQL and React,
// served by the binary from the pinned npm builds: no network at run time).
// It sends the token of the session opened here as a bearer token (and no
// cookie: the actor is always the one the bar shows), and, when
// the server has the dev login on (demo mode), offers a small form to log in as
// one of the demo operators.
(function () {
  "use strict";
  var token = null;
  var status = document.getElementById("gepi-login-status");

  function fetcher(params, opts) {
    var headers = { "Content-Type": "application/json", Accept: "application/graphql-response+json, application/json" };
    var extra = (opts && opts.headers) || {};
    Object.keys(extra).forEach(function (k) { headers[k] = extra[k]; });
    if (token && !headers.Authorization && !headers.authorization) {
      headers.Authorization = "Bearer " + token;
    }
    return fetch("/graphql", { method: "POST", headers: headers, body: JSON.stringify(params), credentials: "omit" })
      .then(function (r) { return r.json(); });
  }

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  var query = new URLSearchParams(window.location.search).get("query");
  function render() {
    // A new key remounts GraphiQL, which then fetches the schema as the new actor.
    root.render(React.createElement(GraphiQL, {
      key: token || "anonymous",
      fetcher: fetcher,
      defaultQuery: query || "{\n  me {\n    operator { displayName }\n    profile { role }\n  }\n}\n",
      defaultEditorToolsVisibility: false,
    }));
  }
  render();

  var form = document.getElementById("gepi-login");
  if (!form) { return; }
  var select = form.querySelector("select");
  fetch("/auth/dev-login", { headers: { Accept: "application/json" } })
    .then(function (r) { return r.ok ? r.json() : []; })
    .then(function (choices) {
      choices.forEach(function (c) {
        var o = document.createElement("option");
        o.value = JSON.stringify({ fiscalCode: c.fiscalCode, profileId: c.profileId });
        o.textContent = c.role + " — " + c.displayName;
        select.appendChild(o);
      });
      form.hidden = choices.length === 0;
    });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    fetch("/auth/dev-login", { method: "POST", headers: { "Content-Type": "application/json" }, body: select.value })
      .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
      .then(function (r) {
        if (!r.ok) { status.textContent = (r.body.error && r.body.error.message) || "login refused"; return; }
        token = r.body.token;
        status.textContent = "Logged in as " + select.options[select.selectedIndex].textContent;
        render();
      });
  });
})();
