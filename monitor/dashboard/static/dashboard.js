// Live refresh: poll /api/stamp; when the store changed, fetch this page again and swap <main>.
(function () {
  "use strict";
  var INTERVAL_MS = 3000;
  var live = document.getElementById("live");
  document.querySelectorAll("form.filters select").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  function swap(text) {
    var doc = new DOMParser().parseFromString(text, "text/html");
    var main = doc.getElementById("main");
    if (main) {
      document.getElementById("main").replaceWith(document.importNode(main, true));
      document.body.dataset.stamp = doc.body.dataset.stamp || "";
    }
  }
  function poll() {
    fetch("/api/stamp", {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (body) {
        if (live) { live.className = "live on"; }
        if (body.stamp !== document.body.dataset.stamp) {
          return fetch(window.location.href, {credentials: "same-origin", cache: "no-store"})
            .then(function (r) { return r.text(); }).then(swap);
        }
      })
      .catch(function () { if (live) { live.className = "live off"; } })
      .then(function () { window.setTimeout(poll, INTERVAL_MS); });
  }
  window.setTimeout(poll, INTERVAL_MS);
})();
