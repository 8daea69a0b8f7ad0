/* Counts clicks on the widgets' direct links. Amazon's programme forbids sending visitors
   through a redirect, so those links point at Amazon itself and carry data-aff-beacon, the
   URL that records the click; this script posts to it with navigator.sendBeacon, which
   survives the page being left. Every other widget link counts itself through /go/.
   An external script (never inline), so a strict Content-Security-Policy can allow it;
   loading it twice is harmless. */
(function () {
  "use strict";
  if (window.affiliateBeacon || !navigator.sendBeacon) {
    return;
  }
  window.affiliateBeacon = true;

  function report(event) {
    // A primary click, a middle click (a new tab) or Enter on a focused link.
    if (event.type === "auxclick" && event.button !== 1) {
      return;
    }
    var link = event.target instanceof Element ? event.target.closest("a[data-aff-beacon]") : null;
    if (link) {
      navigator.sendBeacon(link.getAttribute("data-aff-beacon"));
    }
  }

  // Listening on the document also covers widgets inserted after this script ran.
  document.addEventListener("click", report, true);
  document.addEventListener("auxclick", report, true);
})();
