// The marketer UI's own script, loaded on every page (the Content-Security-Policy allows no
// inline script or on* attribute). htmx does the rest.
(function () {
  "use strict";
  // <form data-confirm="Question?">: submitted only once the question is answered yes.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form instanceof HTMLFormElement && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  }, true);

  // <button data-copy="id">: copies the text of the element with that id, and says so in
  // the page's [data-copy-status] region (read out by screen readers).
  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element && event.target.closest("button[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    var status = document.querySelector("[data-copy-status]");
    if (!source) return;
    var say = function (text) { if (status) status.textContent = text; };
    var text = source.textContent;
    var fallback = function () {
      var range = document.createRange();
      range.selectNodeContents(source);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      say(document.execCommand("copy") ? "Copied." : "Selected: press Ctrl+C to copy.");
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { say("Copied."); }, fallback);
    } else {
      fallback();
    }
  });

  // <div hx-trigger="every 2s" data-poll-while="#box">: polls only while the box is ticked
  // (an htmx trigger filter would need eval, which the policy forbids).
  document.addEventListener("htmx:confirm", function (event) {
    var selector = event.target.getAttribute && event.target.getAttribute("data-poll-while");
    if (!selector) return;
    var box = document.querySelector(selector);
    if (box && !box.checked) {
      event.preventDefault();
    }
  });
  // A box that scrolls sideways (a wide table or code on a phone) must be reachable from the
  // keyboard to be scrolled (WCAG 2.1.1): one without a link or control in it is made
  // focusable while it overflows, and only then.
  var SCROLLERS = "pre, .table, .scroll, .graph, .row .payload";
  var FOCUSABLE = "a[href], button, input, select, textarea, [tabindex]";
  function scrollersFocusable(root) {
    root.querySelectorAll(SCROLLERS).forEach(function (box) {
      var overflows = box.scrollWidth > box.clientWidth || box.scrollHeight > box.clientHeight;
      if (box.hasAttribute("data-scroll-focus")) {
        if (!overflows) { box.removeAttribute("tabindex"); box.removeAttribute("data-scroll-focus"); }
      } else if (overflows && !box.hasAttribute("tabindex") && !box.querySelector(FOCUSABLE)) {
        box.setAttribute("tabindex", "0");
        box.setAttribute("data-scroll-focus", "");
      }
    });
  }
  var resizing;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(function () { scrollersFocusable(document); }, 150);
  });
  document.addEventListener("DOMContentLoaded", function () { scrollersFocusable(document); });
  document.addEventListener("htmx:load", function (event) { scrollersFocusable(document); });
  document.addEventListener("toggle", function () { scrollersFocusable(document); }, true);
})();
