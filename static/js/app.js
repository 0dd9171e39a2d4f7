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
})();
