// Small enhancements only: every page works without this script.
(function () {
  "use strict";

  // Follows a running deployment's log, appending new lines as they come.
  function followLog(log) {
    var id = log.getAttribute("data-deployment");
    var after = parseInt(log.getAttribute("data-after"), 10) || 0;
    var statusChip = document.getElementById("deployment-status");
    var empty = document.getElementById("log-empty");

    function time(iso) {
      var d = new Date(iso);
      var pad = function (n, w) { return String(n).padStart(w || 2, "0"); };
      return pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds()) + "." + pad(d.getUTCMilliseconds(), 3);
    }

    function poll() {
      fetch("/deployments/" + id + "/log.json?after=" + after, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (data) {
          var atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
          data.lines.forEach(function (line) {
            var span = document.createElement("span");
            span.className = "log-line log-" + line.stream;
            var t = document.createElement("span");
            t.className = "log-time";
            t.textContent = time(line.at);
            span.appendChild(t);
            span.appendChild(document.createTextNode(" " + line.line + "\n"));
            log.appendChild(span);
            after = line.id;
          });
          if (data.lines.length && empty) { empty.remove(); empty = null; }
          if (atBottom) { log.scrollTop = log.scrollHeight; }
          if (statusChip) {
            statusChip.textContent = data.status_text;
            statusChip.className = "chip chip-large chip-" + data.status;
          }
          data.steps.forEach(function (step) {
            var row = document.querySelector('.step-run[data-position="' + step.position + '"]');
            if (!row) { return; }
            var chip = row.querySelector('[data-role="status"]');
            chip.textContent = step.status;
            chip.className = "chip chip-step-" + step.status;
            var duration = row.querySelector('[data-role="duration"]');
            if (duration) { duration.textContent = step.duration || ""; }
          });
          if (data.active) {
            setTimeout(poll, data.lines.length >= 2000 ? 50 : 1000);
          } else {
            // Finished: reload once so steps, notes and actions are final.
            setTimeout(function () { window.location.reload(); }, 300);
          }
        })
        .catch(function () { setTimeout(poll, 3000); });
    }
    setTimeout(poll, 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    // Move focus to an error summary so keyboard and screen-reader users land on it.
    var summary = document.querySelector(".error-summary");
    if (summary) {
      summary.focus();
    }
    // Forms marked data-confirm ask before submitting.
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) {
          event.preventDefault();
        }
      });
    });
    var log = document.getElementById("log");
    if (log && log.getAttribute("data-active") === "true") {
      log.scrollTop = log.scrollHeight;
      followLog(log);
    }
  });
})();
