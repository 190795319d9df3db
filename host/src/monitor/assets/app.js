// etl-host dashboard: the pages are rendered by the server. While a run is in progress the
// page names its API document in `data-live`; this script polls it and reloads the page when
// something changed. Text is only ever set with textContent.
"use strict";

(function () {
  // Tells a reader of the DOM (and the browser test) that the page's own script runs.
  document.documentElement.dataset.js = "ready";
  const status = document.getElementById("live-status");
  const url = document.body.dataset.live;
  if (!url) {
    if (status) status.textContent = "";
    return;
  }
  // What changes as a run goes on: statuses, stage counts, row counts.
  function signature(doc) {
    const runs = doc.runs || [doc.run];
    const stages = doc.stages || [];
    return JSON.stringify([
      runs.map((r) => [r.id, r.status, r.stage_counts && r.stage_counts.success, r.rows_in]),
      stages.map((s) => [s.stage, s.status, s.rows_out, s.attempts]),
    ]);
  }
  let first = null;
  async function poll() {
    try {
      const response = await fetch(url, { cache: "no-store" });
      const doc = await response.json();
      const now = signature(doc);
      if (first === null) first = now;
      // The page was rendered while something ran: reload once it changed or nothing runs.
      const runs = doc.runs || [doc.run];
      if (now !== first || !runs.some((r) => r && r.status === "running")) {
        location.reload();
        return;
      }
      if (status) status.textContent = "live · checked " + new Date().toLocaleTimeString();
    } catch (error) {
      if (status) status.textContent = "live · " + String(error);
    }
    setTimeout(poll, 2000);
  }
  poll();
})();
