/* The review page's keys: j/k move between rows, x ticks the row, a/r approve/reject the
   ticked links. Without this script the page works the same with Tab, Space and the buttons. */
(function () {
  "use strict";
  var form = document.getElementById("review");
  if (!form) { return; }
  var boxes = Array.prototype.slice.call(form.querySelectorAll("input[name=link]"));
  function current() { return boxes.indexOf(document.activeElement); }
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (target && (target.tagName === "INPUT" && target.type !== "checkbox" || target.tagName === "SELECT"
                   || target.tagName === "TEXTAREA")) { return; }
    var at = current();
    if (event.key === "j" || event.key === "k") {
      var next = at < 0 ? 0 : Math.min(boxes.length - 1, Math.max(0, at + (event.key === "j" ? 1 : -1)));
      if (boxes[next]) { boxes[next].focus(); boxes[next].closest("tr").scrollIntoView({block: "nearest"}); }
    } else if (event.key === "x" && at >= 0) {
      boxes[at].checked = !boxes[at].checked;
    } else if (event.key === "a" || event.key === "r") {
      var button = form.querySelector("button[data-key=" + event.key + "]");
      if (button && boxes.some(function (box) { return box.checked; })) { button.click(); }
    } else {
      return;
    }
    event.preventDefault();
  });
}());
