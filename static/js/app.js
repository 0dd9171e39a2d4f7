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

  // <div hx-trigger="every 2s" data-poll-while="#control">: polls only while the control is
  // ticked (a checkbox) or not paused (a button with data-paused); an htmx trigger filter
  // would need eval, which the policy forbids.
  document.addEventListener("htmx:confirm", function (event) {
    var selector = event.target.getAttribute && event.target.getAttribute("data-poll-while");
    if (!selector) return;
    var control = document.querySelector(selector);
    if (!control) return;
    var live = control.type === "checkbox" ? control.checked : control.getAttribute("data-paused") !== "true";
    if (!live) {
      event.preventDefault();
    }
  });

  // The debugger's Pause and pretty/raw buttons. Without JavaScript they submit the filter
  // form with the other state; with it they toggle in place, and keep the form's hidden field
  // in step so a new search keeps the state. The poller is replaced on every poll, the
  // buttons are not, so a pause survives the polls.
  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element && event.target.closest("button[data-debugger-toggle]");
    if (!button) return;
    event.preventDefault();
    var form = button.form;
    var section = button.closest(".debugger");
    var which = button.getAttribute("data-debugger-toggle");
    var field = form && form.querySelector('[data-debugger-field="' + which + '"]');
    var next = button.value;
    if (field) field.value = next;
    if (which === "paused") {
      var paused = next === "1";
      button.setAttribute("data-paused", paused ? "true" : "false");
      button.textContent = paused ? "Resume" : "Pause";
      button.value = paused ? "0" : "1";
      var state = document.getElementById("debugger-live-state");
      if (state) {
        state.textContent = paused
          ? "Paused: new events wait until you resume."
          : "Live: new events appear every 2 s.";
      }
    } else if (which === "view" && section) {
      section.setAttribute("data-view", next);
      button.textContent = next === "raw" ? "Show pretty" : "Show raw";
      button.value = next === "raw" ? "pretty" : "raw";
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

  // A searchable picker without a build step: <div data-find hidden> holding
  // <input data-filter-options="select-id"> is shown with JavaScript; typing keeps only the
  // options of that select whose label holds the text, and picks the first of them when
  // the current choice is hidden or empty. Without JavaScript the select alone is there.
  var findersShow = function (root) {
    root.querySelectorAll("[data-find][hidden]").forEach(function (box) { box.hidden = false; });
  };
  document.addEventListener("DOMContentLoaded", function () { findersShow(document); });
  document.addEventListener("htmx:load", function () { findersShow(document); });
  document.addEventListener("input", function (event) {
    var input = event.target;
    if (!(input instanceof HTMLInputElement) || !input.hasAttribute("data-filter-options")) return;
    var select = document.getElementById(input.getAttribute("data-filter-options"));
    if (!(select instanceof HTMLSelectElement)) return;
    var text = input.value.trim().toLowerCase();
    var first = null;
    Array.prototype.forEach.call(select.options, function (option) {
      var keep = !text || !option.value || option.text.toLowerCase().indexOf(text) !== -1;
      option.hidden = !keep;
      if (keep && option.value && !first) first = option;
    });
    var current = select.options[select.selectedIndex];
    if (first && text && (!current || current.hidden || !current.value)) {
      select.value = first.value;
      select.dispatchEvent(new Event("change", { bubbles: true }));
    }
  });
})();
