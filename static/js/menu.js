// The header's menu on a narrow screen: the button shows and hides the navigation and the
// account links (Escape closes it and gives focus back to the button). The button is shown
// only by this script, so without JavaScript the menu is simply always open. It runs as soon
// as the header is parsed (base.html loads it right after the header, not deferred), so a
// phone never draws the menu open and then folds it.
(function () {
  "use strict";
  var NARROW = window.matchMedia("(max-width: 720px)");
  var topbar = document.querySelector("[data-topbar]");
  var toggle = topbar && topbar.querySelector("[data-menu-toggle]");
  if (!toggle) return;
  function menuSet(open) {
    topbar.classList.toggle("menu-open", open);
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  }
  toggle.hidden = false;
  topbar.classList.add("menu-collapsible");
  menuSet(false);
  toggle.addEventListener("click", function () {
    menuSet(!topbar.classList.contains("menu-open"));
  });
  topbar.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && topbar.classList.contains("menu-open") && NARROW.matches) {
      menuSet(false);
      toggle.focus();
    }
  });
})();
