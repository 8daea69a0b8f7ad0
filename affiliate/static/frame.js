/* film-affiliate frame.js: runs inside a widget's iframe page
 * (/widgets/<widget>/<film>/frame) and tells the parent page the widget's height whenever
 * it changes, so the iframe can fit it (frame-parent.js does that on the parent's side):
 *
 *   parent.postMessage({type: "affiliate:resize", id: ID, height: PIXELS}, "*")
 *
 * ID is what follows "#" in the iframe's src (frame#my-box -> "my-box"), else the frame's
 * path. The message carries nothing but a height, so it is sent to whichever site frames
 * the widget; the parent checks where it came from.
 *
 * The region switcher reloads this page for the chosen region instead of leaving it.
 */
(function () {
  "use strict";

  var id = decodeURIComponent(location.hash.slice(1)) || location.pathname;
  var reported = -1;

  function report() {
    var height = Math.ceil(document.body.getBoundingClientRect().height);
    if (height !== reported) {
      reported = height;
      window.parent.postMessage({ type: "affiliate:resize", id: id, height: height }, "*");
    }
  }

  function switchRegion(event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.matches("form.aff-region-switcher")) {
      return;
    }
    event.preventDefault();
    var url = new URL(location.href);
    new FormData(form).forEach(function (value, name) {
      if ((name === "region" || name === "locale") && value) {
        url.searchParams.set(name, value);
      }
    });
    location.assign(url.href);
  }

  document.addEventListener("submit", switchRegion);
  if (window.parent !== window) {
    new ResizeObserver(report).observe(document.body);
    report();
  }
})();
