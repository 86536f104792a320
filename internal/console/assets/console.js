// resetq console: with JavaScript on, a page stays live without reloading:
// every few seconds its main part is fetched again and swapped in (not
// while the reader is typing or has selected text). Without JavaScript the
// page reloads itself (meta refresh), and every view still works.
(function () {
  "use strict";
  var meta = document.querySelector('meta[http-equiv="refresh"]');
  if (!meta || !window.fetch || !window.DOMParser) { return; }
  var every = (parseInt(meta.getAttribute("content"), 10) || 5) * 1000;
  meta.parentNode.removeChild(meta);
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
          main.innerHTML = fresh.innerHTML;
          main.setAttribute("data-refreshed", String(Date.now()));
        }
      })
      .catch(function () { /* the next tick tries again */ });
  }
  window.setInterval(refresh, every);
}());
