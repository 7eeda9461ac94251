/* The dashboards: each chart card fetches its server-built Plotly figure
 * (dashboards/<chart>/?range...) and draws it with the vendored plotly.js. */
(function () {
  "use strict";

  function draw(card) {
    var target = card.querySelector(".chart");
    window.fetch(card.dataset.figureUrl, { credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (result) {
        if (!result.ok) {
          target.textContent = result.body.error || "Could not load this chart.";
          return;
        }
        var figure = result.body;
        var points = figure.data.reduce(function (n, trace) {
          return n + ((trace.x && trace.x.length) || (trace.y && trace.y.length) || 0);
        }, 0);
        card.dataset.points = points;
        if (!points) {
          target.innerHTML = '<p class="empty">No data in this range.</p>';
          card.dataset.rendered = "empty";
          return;
        }
        target.textContent = "";
        return window.Plotly.newPlot(target, figure.data, figure.layout,
          { responsive: true, displaylogo: false }).then(function () { card.dataset.rendered = "1"; });
      })
      .catch(function (err) { target.textContent = "Could not load this chart: " + err; });
  }

  function start() {
    document.querySelectorAll("[data-figure-url]").forEach(draw);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
