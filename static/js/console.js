// Skyport console: the migration round chart (uPlot, vendored under static/vendor/uplot-<version>/).
// The data travel in the polled fragment as JSON (<script type="application/json" id="rounds-data">),
// so the chart follows every htmx refresh; the rounds table beside it shows the same figures without JavaScript.
(function () {
  "use strict";

  var chart = null;
  var SERIES = [
    {label: "sent MiB", key: "sent_mib", stroke: "#2456d6", scale: "mib"},
    {label: "dirty MiB", key: "dirty_mib", stroke: "#e08a00", scale: "mib"},
    {label: "remaining MiB", key: "remaining_mib", stroke: "#c62828", scale: "mib"},
    {label: "dirty rate MiB/s", key: "dirty_rate_mibps", stroke: "#7b5ea7", scale: "rate", dash: [6, 4]},
    {label: "transfer rate MiB/s", key: "transfer_rate_mibps", stroke: "#1b7f45", scale: "rate", dash: [2, 3]}
  ];

  function columns(rounds) {
    var data = [rounds.map(function (r) { return r.round; })];
    SERIES.forEach(function (s) { data.push(rounds.map(function (r) { return r[s.key]; })); });
    return data;
  }

  function options(width) {
    return {
      width: width, height: 300,
      scales: {x: {time: false}, mib: {auto: true}, rate: {auto: true}},
      axes: [
        {label: "round", values: function (u, ticks) { return ticks.map(function (t) { return Number.isInteger(t) ? t : ""; }); }},
        {scale: "mib", label: "MiB", size: 60},
        {scale: "rate", label: "MiB/s", side: 1, size: 60, grid: {show: false}}
      ],
      series: [{label: "round"}].concat(SERIES.map(function (s) {
        return {label: s.label, stroke: s.stroke, width: 2, scale: s.scale, dash: s.dash, points: {show: true, size: 6}};
      }))
    };
  }

  function draw() {
    var holder = document.getElementById("round-chart");
    var source = document.getElementById("rounds-data");
    if (!holder || !source || typeof uPlot === "undefined") return;
    var rounds = JSON.parse(source.textContent);
    holder.hidden = rounds.length === 0;
    if (!rounds.length) return;
    var width = Math.max(280, holder.clientWidth || holder.parentElement.clientWidth);
    if (chart && chart.root.isConnected) {
      chart.setData(columns(rounds));
      return;
    }
    holder.innerHTML = "";
    chart = new uPlot(options(width), columns(rounds), holder);
    holder.dataset.drawn = String(rounds.length);
  }

  function redrawCount() {
    var holder = document.getElementById("round-chart");
    var source = document.getElementById("rounds-data");
    if (holder && source) holder.dataset.drawn = String(JSON.parse(source.textContent).length);
  }

  document.addEventListener("DOMContentLoaded", function () { draw(); redrawCount(); });
  document.addEventListener("htmx:afterSettle", function () { draw(); redrawCount(); });
  window.addEventListener("resize", function () {
    var holder = document.getElementById("round-chart");
    if (chart && holder) chart.setSize({width: Math.max(280, holder.clientWidth), height: 300});
  });
})();
