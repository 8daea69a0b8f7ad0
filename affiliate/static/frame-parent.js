/* film-affiliate frame-parent.js: include once on a page that shows widgets in iframes
 * (<iframe src="https://SERVICE/widgets/how-to-watch/tmdb:451/frame">). It sets each such
 * iframe's height to what the widget inside reports (frame.js), so it never scrolls or
 * leaves a gap. A message counts only if it comes from one of this page's iframes and from
 * the origin that iframe's src names.
 */
(function () {
  "use strict";
  if (window.AffiliateFrames) {
    return;
  }
  window.AffiliateFrames = { version: 1 };

  window.addEventListener("message", function (event) {
    var data = event.data;
    if (!data || data.type !== "affiliate:resize" || !isFinite(data.height)) {
      return;
    }
    var frames = document.getElementsByTagName("iframe");
    for (var i = 0; i < frames.length; i++) {
      var frame = frames[i];
      if (frame.contentWindow === event.source) {
        if (new URL(frame.src, location.href).origin === event.origin) {
          frame.style.height = Math.max(0, Math.ceil(data.height)) + "px";
        }
        return;
      }
    }
  });
})();
