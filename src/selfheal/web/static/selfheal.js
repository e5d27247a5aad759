// selfheal's only script (served from /static, so the CSP allows 'self' alone):
// - times in the browser's zone, UTC on hover;
// - forms with data-confirm ask first and say the consequence;
// - pages with [data-live] regions refresh those regions when the server says something
//   changed (plain EventSource on /live; no build chain, no framework).
"use strict";

function localTimes(root) {
  root.querySelectorAll("time[datetime]").forEach(function (el) {
    var d = new Date(el.getAttribute("datetime"));
    if (isNaN(d.getTime())) return;
    el.textContent = d.toLocaleString();
    el.dataset.local = "1";
  });
}

function confirmations(root) {
  root.querySelectorAll("button[data-confirm]").forEach(function (button) {
    if (button.dataset.confirmBound) return;
    button.dataset.confirmBound = "1";
    button.addEventListener("click", function (ev) {
      if (!window.confirm(button.dataset.confirm)) ev.preventDefault();
    });
  });
  root.querySelectorAll("form[data-confirm]").forEach(function (form) {
    if (form.dataset.confirmBound) return;
    form.dataset.confirmBound = "1";
    form.addEventListener("submit", function (ev) {
      if (!window.confirm(form.dataset.confirm)) ev.preventDefault();
    });
  });
}

var refreshing = false, again = false;

function refresh() {
  if (refreshing) { again = true; return; }
  refreshing = true;
  fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
    .then(function (r) { return r.ok ? r.text() : null; })
    .then(function (html) {
      if (!html) return;
      var doc = new DOMParser().parseFromString(html, "text/html");
      document.querySelectorAll("[data-live][id]").forEach(function (el) {
        var fresh = doc.getElementById(el.id);
        if (fresh && fresh.innerHTML !== el.innerHTML) {
          el.innerHTML = fresh.innerHTML;
          localTimes(el);
          confirmations(el);
        }
      });
      document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
    })
    .catch(function () {})
    .finally(function () {
      refreshing = false;
      if (again) { again = false; setTimeout(refresh, 300); }
    });
}

function live() {
  if (!document.querySelector("[data-live]") || !window.EventSource) return;
  var timer = null;
  var source = new EventSource("/live");
  source.addEventListener("changed", function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  });
  source.addEventListener("open", function () { document.body.dataset.live = "on"; });
}

document.addEventListener("DOMContentLoaded", function () {
  localTimes(document);
  confirmations(document);
  live();
});
