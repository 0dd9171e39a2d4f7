// Copy buttons: <button type="button" data-copy="id"> copies the text of the element with that
// id and says so in the page's [data-copy-status] live region, read out by screen readers. A
// static file, as the Content-Security-Policy allows no inline script. Being a <button>, it
// works from the keyboard (Enter, Space) as with a mouse.
(function () {
  "use strict";
  var clearing = null;

  function say(text) {
    var status = document.querySelector("[data-copy-status]");
    if (!status) return;
    // Emptied first so that copying twice is announced twice.
    status.textContent = "";
    window.setTimeout(function () { status.textContent = text; }, 50);
    window.clearTimeout(clearing);
    clearing = window.setTimeout(function () { status.textContent = ""; }, 5000);
  }

  // Without the clipboard API (plain http, an old browser): select the text, try the old copy
  // command, and otherwise leave it selected for Ctrl+C.
  function selectAndCopy(source) {
    var range = document.createRange();
    range.selectNodeContents(source);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    var copied = false;
    try { copied = document.execCommand("copy"); } catch (error) { copied = false; }
    say(copied ? "Copied." : "Selected: press Ctrl+C (⌘C on a Mac) to copy.");
  }

  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element && event.target.closest("button[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { say("Copied."); }, function () {
        selectAndCopy(source);
      });
    } else {
      selectAndCopy(source);
    }
  });
})();
