// resetq console: with JavaScript on, a page stays live without reloading:
// every few seconds its main part is fetched again and swapped in (not
// while the reader is typing or has selected text; what they unfolded stays
// unfolded). Without JavaScript the page reloads itself (meta refresh), and
// every view still works.
(function () {
  "use strict";
  // The reload for browsers without JavaScript sits in <noscript>, which
  // is inert here: removing a parsed meta refresh would not cancel it.
  var meta = document.querySelector('meta[name="resetq-refresh"]');
  if (!meta || !window.fetch || !window.DOMParser) { return; }
  var every = (parseInt(meta.getAttribute("content"), 10) || 5) * 1000;
  function busy() {
    var a = document.activeElement;
    var sel = window.getSelection && window.getSelection();
    return (a && (a.tagName === "INPUT" || a.tagName === "TEXTAREA")) || (sel && !sel.isCollapsed);
  }
  function refresh() {
    if (document.hidden || busy()) { return; }
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (res) { return res.ok ? res.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("main");
        var main = document.querySelector("main");
        if (fresh && main) {
          // What the reader unfolded stays unfolded.
          var open = [];
          main.querySelectorAll("details[open][id]").forEach(function (d) { open.push(d.id); });
          main.innerHTML = fresh.innerHTML;
          open.forEach(function (id) { var d = document.getElementById(id); if (d) { d.open = true; } });
          main.setAttribute("data-refreshed", String(Date.now()));
        }
      })
      .catch(function () { /* the next tick tries again */ });
  }
  window.setInterval(refresh, every);
}());
