// seglab dashboard: the overview's live counts.
//
// Listens to /api/v1/stream (server-sent events; the session cookie
// authenticates it): every `entered` adds one to the segment's member count,
// every `exited` takes one away, and the change is listed under the table.
// After a reconnect, or when the stream says it lagged, the rows are reloaded
// from the server. No other script runs on the pages besides htmx.
(function () {
  "use strict";

  var table = document.getElementById("segments");
  var status = document.getElementById("live");
  if (!table || !status || !window.EventSource) {
    return;
  }
  var recent = document.getElementById("recent-changes");
  var MAX_RECENT = 12;

  function setStatus(state, text) {
    status.dataset.state = state;
    status.textContent = text;
  }

  function formatCount(n) {
    return n.toLocaleString("en-US");
  }

  function formatShare(share) {
    var p = share * 100;
    if (p > 0 && p < 0.1) {
      return "<0.1 %";
    }
    return p.toFixed(1) + " %";
  }

  function rowOf(segment) {
    var rows = table.querySelectorAll("tbody tr[data-segment]");
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].dataset.segment === segment) {
        return rows[i];
      }
    }
    return null;
  }

  function bump(segment, delta) {
    var row = rowOf(segment);
    if (!row) {
      return;
    }
    var size = row.querySelector(".size");
    var share = row.querySelector(".share");
    var n = Math.max(0, parseInt(size.dataset.size, 10) + delta);
    size.dataset.size = String(n);
    size.textContent = formatCount(n);
    var people = parseInt(share.dataset.people, 10);
    if (people > 0) {
      share.textContent = formatShare(n / people);
    }
    row.classList.remove("bumped-up", "bumped-down");
    // Restart the highlight.
    void row.offsetWidth;
    row.classList.add(delta > 0 ? "bumped-up" : "bumped-down");
  }

  function note(change, entered) {
    if (!recent) {
      return;
    }
    var placeholder = recent.querySelector(".placeholder");
    if (placeholder) {
      placeholder.remove();
    }
    var li = document.createElement("li");
    var time = document.createElement("time");
    time.textContent = String(change.at || "").replace("T", " ").slice(0, 19);
    var text = " person " + change.person +
      (entered ? " entered " : " exited ") + change.segment;
    if (change.cause) {
      text += " (" + change.cause + ")";
    }
    li.appendChild(time);
    li.appendChild(document.createTextNode(text));
    li.className = entered ? "entered" : "exited";
    recent.insertBefore(li, recent.firstChild);
    while (recent.children.length > MAX_RECENT) {
      recent.removeChild(recent.lastChild);
    }
  }

  function reloadRows() {
    if (window.htmx) {
      window.htmx.ajax("GET", "/ui/overview/rows", {
        target: "#segment-rows",
        swap: "outerHTML",
      });
    }
  }

  var wasOpen = false;
  var source = new EventSource("/api/v1/stream");
  source.addEventListener("open", function () {
    if (wasOpen) {
      reloadRows();
    }
    wasOpen = true;
    setStatus("live", "live");
  });
  source.addEventListener("error", function () {
    setStatus("reconnecting", "reconnecting…");
  });
  function onChange(entered) {
    return function (event) {
      var change;
      try {
        change = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      bump(change.segment, entered ? 1 : -1);
      note(change, entered);
    };
  }
  source.addEventListener("entered", onChange(true));
  source.addEventListener("exited", onChange(false));
  source.addEventListener("lagged", reloadRows);
  window.addEventListener("pagehide", function () {
    source.close();
  });
})();
