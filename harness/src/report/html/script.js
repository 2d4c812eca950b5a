// Filters by outcome, protocol and severity; expand and collapse. The state lives in
// the URL fragment: #outcome=fail,error&protocol=smtp&severity=high&open=all|none|ID,...
(function () {
  "use strict";
  var KEYS = ["outcome", "protocol", "severity"];
  var checks = Array.prototype.slice.call(document.querySelectorAll("details.check"));
  var boxes = Array.prototype.slice.call(document.querySelectorAll("#filters input[type=checkbox]"));

  function selected() {
    var on = {};
    KEYS.forEach(function (k) { on[k] = {}; });
    boxes.forEach(function (b) { if (b.checked) { on[b.name][b.value] = true; } });
    return on;
  }

  function apply() {
    var on = selected();
    var shown = 0;
    checks.forEach(function (c) {
      var ok = KEYS.every(function (k) { return on[k][c.getAttribute("data-" + k)] === true; });
      c.hidden = !ok;
      if (ok) { shown += 1; }
    });
    document.getElementById("shown").textContent =
      "Showing " + shown + " of " + checks.length + " checks";
    document.getElementById("empty").hidden = shown !== 0;
  }

  function writeHash() {
    var parts = [];
    KEYS.forEach(function (k) {
      var group = boxes.filter(function (b) { return b.name === k; });
      var on = group.filter(function (b) { return b.checked; }).map(function (b) { return b.value; });
      if (on.length !== group.length) { parts.push(k + "=" + on.join(",")); }
    });
    try {
      history.replaceState(null, "", parts.length ? "#" + parts.join("&") : location.pathname + location.search);
    } catch (e) { /* file:// in some browsers: the filters still work */ }
  }

  function readHash() {
    var hash = location.hash.replace(/^#/, "");
    if (!hash) { return; }
    hash.split("&").forEach(function (pair) {
      var eq = pair.indexOf("=");
      if (eq < 0) { return; }
      var key = decodeURIComponent(pair.slice(0, eq));
      var values = decodeURIComponent(pair.slice(eq + 1)).split(",");
      if (KEYS.indexOf(key) >= 0) {
        boxes.forEach(function (b) { if (b.name === key) { b.checked = values.indexOf(b.value) >= 0; } });
      } else if (key === "open") {
        checks.forEach(function (c) {
          c.open = values.indexOf("all") >= 0 ||
            (values.indexOf("none") < 0 && values.indexOf(c.getAttribute("data-id")) >= 0);
        });
      }
    });
  }

  function setAll(key, values) {
    boxes.forEach(function (b) {
      if (b.name === key) { b.checked = values === null || values.indexOf(b.value) >= 0; }
    });
  }

  boxes.forEach(function (b) { b.addEventListener("change", function () { apply(); writeHash(); }); });
  document.getElementById("only-failures").addEventListener("click", function () {
    KEYS.forEach(function (k) { setAll(k, null); });
    setAll("outcome", ["fail", "error"]);
    apply(); writeHash();
  });
  document.getElementById("show-all").addEventListener("click", function () {
    KEYS.forEach(function (k) { setAll(k, null); });
    apply(); writeHash();
  });
  document.getElementById("expand-all").addEventListener("click", function () {
    checks.forEach(function (c) { if (!c.hidden) { c.open = true; } });
  });
  document.getElementById("collapse-all").addEventListener("click", function () {
    checks.forEach(function (c) { c.open = false; });
  });
  window.addEventListener("hashchange", function () { readHash(); apply(); });
  readHash();
  apply();
}());
