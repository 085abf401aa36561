// The leader's dashboard: sensor alarm episodes of the chosen period, by kind and district (lifeline monitoring).
(function () {
  "use strict";
  var C = window.CityGrid, cfg = C.config("page-config");
  var $ = function (id) { return document.getElementById(id); };
  var cols = ["kind_name", "district_name", "episodes", "alarms", "cases", "ongoing"];
  function load() {
    var form = new FormData($("period")), start = form.get("start"), end = form.get("end");
    if (!start || !end) return;
    C.api(cfg.apiAlarms + "?start=" + encodeURIComponent(start) + "&end=" + encodeURIComponent(end)).then(function (r) {
      if (!r.ok) return;
      var rows = r.data.results;
      $("sensor-alarms").innerHTML = "<tr>" + cols.map(function (c) { return "<th>" + C.esc(cfg.alarmColumns[c]) + "</th>"; }).join("") +
        "</tr>" + (rows.length ? rows.map(function (row) {
          return "<tr>" + cols.map(function (c) { return "<td>" + C.esc(row[c]) + "</td>"; }).join("") + "</tr>";
        }).join("") : '<tr><td colspan="' + cols.length + '">' + C.esc(cfg.alarmNone) + "</td></tr>");
      $("sensor-alarms").dataset.loaded = String(rows.length);
    });
  }
  $("period").addEventListener("change", load);
  load();
})();
