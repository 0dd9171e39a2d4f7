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

  // A link to a folded <details> (href="#identity-graph") unfolds it on arrival.
  var unfold = function () {
    var target = location.hash && document.getElementById(location.hash.slice(1));
    if (target instanceof HTMLDetailsElement && !target.open) {
      target.open = true;
      target.scrollIntoView();
    }
  };
  window.addEventListener("hashchange", unfold);
  document.addEventListener("DOMContentLoaded", unfold);
})();
