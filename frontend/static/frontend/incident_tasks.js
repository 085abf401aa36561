// Emergency tasks (应急任务) on the bureau's workbench and a crew's phone: the tasks an activated plan gave the
// bureau (a crew: those its unit was sent to), by deadline, with 签收, sending a crew (bureau desk) and 完成 with a
// report. Polled every 10 s; a new task is announced.
(function () {
  "use strict";
  var C = window.CityGrid, cfg = C.config("task-config"), text = cfg.text;
  var box = document.getElementById("incident-tasks"), list = document.getElementById("incident-task-list");
  var known = null, units = [];

  function time(iso) {
    var d = new Date(iso);
    return (d.getMonth() + 1) + "-" + d.getDate() + " " + ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2);
  }
  function row(t) {
    var buttons = "";
    if (t.state === "issued") buttons += '<button type="button" class="big primary task-ack" data-id="' + t.id + '">' + C.esc(text.acknowledge) + "</button>";
    if (!cfg.crew && units.length) {
      buttons += '<select class="task-unit" data-id="' + t.id + '" aria-label="' + C.esc(text.crew) + '">' +
        units.map(function (u) { return '<option value="' + C.esc(u.code) + '"' + (u.code === t.unit ? " selected" : "") + ">" + C.esc(u.name) + "</option>"; }).join("") +
        '</select><button type="button" class="task-assign" data-id="' + t.id + '">' + C.esc(text.assign) + "</button>";
    }
    buttons += '<form class="task-done" data-id="' + t.id + '"><input name="note" required maxlength="2000" placeholder="' +
      C.esc(text.note) + '" aria-label="' + C.esc(text.note) + '"><button type="submit" class="big">' + C.esc(text.done) + "</button></form>";
    return '<li class="incident-task' + (t.overdue ? " late" : "") + '" data-task="' + t.id + '">' +
      (t.drill ? '<span class="drill-badge">' + C.esc(text.drill) + "</span> " : "") +
      "<strong>" + C.esc(t.kind_label) + ": " + C.esc(t.title) + "</strong><br><small>" + C.esc(t.incident_title) + " · " +
      C.esc(t.incident) + " · " + C.esc(text.due) + " " + C.esc(time(t.due_at)) +
      (t.overdue ? " · <strong>" + C.esc(text.overdue) + "</strong>" : "") + (t.escalated ? " · <em>" + C.esc(text.escalated) + "</em>" : "") +
      " · " + C.esc(t.state_label) + (t.unit_name ? " · " + C.esc(t.unit_name) : "") + "</small>" +
      '<div class="task-actions">' + buttons + '</div><p class="error" role="alert"></p></li>';
  }
  function load() {
    return C.api(cfg.apiTasks).then(function (r) {
      if (!r.ok) return;
      var rows = r.data.results;
      box.hidden = false;
      list.innerHTML = rows.length ? rows.map(row).join("") : "<li>" + C.esc(text.none) + "</li>";
      var ids = rows.map(function (t) { return t.id; });
      if (known !== null && ids.some(function (id) { return known.indexOf(id) < 0; })) {
        var banner = document.getElementById("banner");
        if (banner) { banner.textContent = text.newTask; banner.hidden = false; }
        if (navigator.vibrate) navigator.vibrate(200);
      }
      known = ids;
      box.dataset.count = String(rows.length);
    });
  }
  function step(id, name, body, li) {
    return C.api(cfg.apiTasks + id + "/" + name + "/", { method: "POST", body: body || {} }).then(function (r) {
      if (!r.ok && li) li.querySelector(".error").textContent = r.status === 409 ? text.conflict : C.errorsText(r.data);
      return load();
    });
  }
  box.addEventListener("click", function (ev) {
    var b = ev.target.closest("button"), li = ev.target.closest("li");
    if (!b || !li) return;
    if (b.classList.contains("task-ack")) step(b.dataset.id, "acknowledge", {}, li);
    if (b.classList.contains("task-assign")) {
      step(b.dataset.id, "assign", { unit: li.querySelector(".task-unit").value }, li);
    }
  });
  box.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var f = ev.target, li = f.closest("li");
    step(f.dataset.id, "done", { note: new FormData(f).get("note") }, li);
  });
  var start = cfg.crew ? Promise.resolve() : C.api(cfg.apiUnits).then(function (r) {
    if (r.ok) units = (r.data.results || r.data || []).filter(function (u) { return u.code; });
  });
  start.then(load);
  setInterval(function () { if (!document.hidden) load(); }, 10000);
})();
