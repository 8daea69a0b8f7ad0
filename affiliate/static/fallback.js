/* film-affiliate fallback.js: a platform logo or product picture that fails to load is
   removed, so the tile under it shows (the platform's brand colour with its initials or
   name, or the product format's drawn placeholder) instead of a broken-image icon.
   Images that fail later (lazy ones, widgets added by embed.js) are caught by a listener
   on the document in the capture phase (error events do not bubble); those that failed
   before this script ran are found when it runs. An external script with no inline
   handler, so a strict Content-Security-Policy can allow it; loading it twice is harmless. */
(function () {
  "use strict";
  if (window.affiliateFallback) {
    return;
  }
  window.affiliateFallback = true;
  var SELECTOR = ".affiliate-widget img[data-aff-fallback]";

  function drop(image) {
    image.remove();
  }

  document.addEventListener("error", function (event) {
    var image = event.target;
    if (image instanceof HTMLImageElement && image.matches(SELECTOR)) {
      drop(image);
    }
  }, true);

  function failed(image) {
    return image.complete && image.naturalWidth === 0 && image.getAttribute("src");
  }

  function sweep() {
    document.querySelectorAll(SELECTOR).forEach(function (image) {
      if (failed(image)) {
        drop(image);
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", sweep);
  } else {
    sweep();
  }
})();
