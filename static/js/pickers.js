// The segment builder's pickers, progressively enhanced (the page works without them):
// - <select data-search> becomes a searchable combobox: type to filter, arrows to move,
//   Enter to choose, Escape to go back. The select stays in the form (hidden) and gets the
//   choice and a change event, so htmx redraws the builder as before.
// - <div data-chips> ("is one of") becomes chips with a remove button each and a combobox
//   that suggests the catalog's values not chosen yet; Enter adds the highlighted value, or
//   what is typed (comma-separated); Backspace in the empty box removes the last chip.
// The WAI-ARIA combobox pattern (role=combobox, aria-expanded, aria-controls,
// aria-activedescendant on a listbox of options). A static file: the Content-Security-Policy
// allows no inline script.
(function () {
  "use strict";
  // The search box to give the focus back to once a choice has redrawn the builder.
  var refocus = null;

  function norm(text) { return (text || "").toLocaleLowerCase(); }

  // How well `label` answers `query`: 0 the same, 1 starts with it, 2 holds it whole, 3 holds
  // each of its words (in any order), -1 not at all. `extra` (a value, a group) may hold words.
  function rank(query, label, extra) {
    var q = norm(query).trim();
    var text = norm(label);
    if (!q) return 0;
    if (text === q) return 0;
    if (text.indexOf(q) === 0) return 1;
    if (text.indexOf(q) >= 0) return 2;
    var all = text + " " + norm(extra);
    var words = q.split(/\s+/);
    return words.every(function (word) { return all.indexOf(word) >= 0; }) ? 3 : -1;
  }
  function ranked(items, query) {
    return items
      .map(function (item, n) { return { item: item, score: rank(query, item.label, item.extra), n: n }; })
      .filter(function (found) { return found.score >= 0; })
      .sort(function (a, b) { return a.score - b.score || a.n - b.n; })
      .map(function (found) { return found.item; });
  }

  function Popup(input, id, label) {
    var list = document.createElement("ul");
    list.id = id;
    list.className = "combo-list";
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", label);
    list.hidden = true;
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", id);
    input.insertAdjacentElement("afterend", list);
    this.input = input;
    this.list = list;
    this.items = [];
    this.active = -1;
    this.onChoose = function () {};
    var popup = this;
    // Keep the focus in the box while an option is clicked.
    list.addEventListener("mousedown", function (event) { event.preventDefault(); });
    list.addEventListener("click", function (event) {
      var option = event.target instanceof Element && event.target.closest("[role=option]");
      if (!option || option.getAttribute("aria-disabled") === "true") return;
      popup.onChoose(popup.items[Number(option.getAttribute("data-index"))]);
    });
  }
  Popup.prototype.isOpen = function () { return !this.list.hidden; };
  Popup.prototype.show = function (items, active) {
    var list = this.list;
    list.textContent = "";
    this.items = items;
    items.forEach(function (item, n) {
      var option = document.createElement("li");
      option.id = list.id + "-" + n;
      option.className = "combo-option";
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", item.selected ? "true" : "false");
      option.setAttribute("data-index", String(n));
      option.textContent = item.label;
      if (item.hint) {
        var hint = document.createElement("span");
        hint.className = "combo-hint";
        hint.textContent = " · " + item.hint;
        option.appendChild(hint);
      }
      list.appendChild(option);
    });
    if (!items.length) {
      var none = document.createElement("li");
      none.className = "combo-empty";
      none.setAttribute("role", "option");
      none.setAttribute("aria-disabled", "true");
      none.setAttribute("aria-selected", "false");
      none.textContent = "No match";
      list.appendChild(none);
    }
    list.hidden = false;
    this.input.setAttribute("aria-expanded", "true");
    this.move(active === undefined ? -1 : active, true);
  };
  Popup.prototype.hide = function () {
    this.list.hidden = true;
    this.input.setAttribute("aria-expanded", "false");
    this.input.removeAttribute("aria-activedescendant");
    this.active = -1;
  };
  // To the option at `index` (absolute), or by `index` steps from the active one.
  Popup.prototype.move = function (index, absolute) {
    if (!this.items.length) { this.active = -1; return; }
    var next = absolute ? index : this.active + index;
    next = Math.max(-1, Math.min(this.items.length - 1, next));
    if (!absolute && next < 0) next = 0;
    var previous = this.list.querySelector(".combo-option.active");
    if (previous) previous.classList.remove("active");
    this.active = next;
    if (next < 0) { this.input.removeAttribute("aria-activedescendant"); return; }
    var option = document.getElementById(this.list.id + "-" + next);
    option.classList.add("active");
    this.input.setAttribute("aria-activedescendant", option.id);
    option.scrollIntoView({ block: "nearest" });
  };
  Popup.prototype.current = function () {
    return this.active >= 0 ? this.items[this.active] : null;
  };

  function enhanceSelect(select) {
    if (select.hasAttribute("data-enhanced") || !select.id) return;
    select.setAttribute("data-enhanced", "");
    var visible = select.labels && select.labels.length ? select.labels[0] : null;
    var label = select.getAttribute("aria-label") || (visible ? visible.textContent.trim() : "Choose");
    var input = document.createElement("input");
    input.type = "text";
    input.id = select.id + "-search";
    input.className = "combo-input";
    input.autocomplete = "off";
    input.spellcheck = false;
    // A <label for> of the select names the search box instead; else the select's aria-label.
    if (visible) visible.htmlFor = input.id;
    else input.setAttribute("aria-label", label);
    input.disabled = select.disabled;
    var empty = select.querySelector('option[value=""]');
    input.placeholder = empty ? empty.textContent : "Type to search…";
    var wrap = document.createElement("span");
    wrap.className = "combo";
    select.parentNode.insertBefore(wrap, select);
    wrap.appendChild(select);
    wrap.appendChild(input);
    select.hidden = true;
    var popup = new Popup(input, select.id + "-options", label);

    function chosenLabel() {
      var option = select.options[select.selectedIndex];
      return option && option.value ? option.textContent : "";
    }
    function matches(query) {
      var found = [];
      Array.prototype.forEach.call(select.options, function (option) {
        if (!option.value) return;
        var group = option.parentNode instanceof HTMLOptGroupElement ? option.parentNode.label : "";
        found.push({
          value: option.value, label: option.textContent, hint: group,
          extra: option.value + " " + group, selected: option.selected
        });
      });
      return ranked(found, query);
    }
    // Typing starts on the first match; opening an untouched box, on the current choice;
    // a box emptied by typing on nothing, so that Enter then empties the choice.
    function open(query, typed) {
      var items = matches(query);
      var at = -1;
      if (query) at = 0;
      else if (!typed) items.forEach(function (item, n) { if (item.selected) at = n; });
      popup.show(items, at);
    }
    function restore() { input.value = chosenLabel(); }
    popup.onChoose = function (item) {
      popup.hide();
      input.value = item.label;
      if (select.value === item.value) return;
      if (!item.value && !select.querySelector('option[value=""]')) return;
      select.value = item.value;
      refocus = input.id;
      select.dispatchEvent(new Event("change", { bubbles: true }));
    };
    restore();
    input.addEventListener("focus", function () { input.select(); });
    input.addEventListener("click", function () { if (!popup.isOpen()) open(""); });
    input.addEventListener("input", function () { open(input.value, true); });
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        if (!popup.isOpen()) open("");
        else popup.move(event.key === "ArrowDown" ? 1 : -1);
      } else if (event.key === "Enter") {
        event.preventDefault(); // never submits the builder's form
        var item = popup.current();
        if (popup.isOpen() && item) popup.onChoose(item);
        // An emptied box chooses the select's empty option (no activity, no step).
        else if (!input.value.trim()) popup.onChoose({ value: "", label: "" });
        else if (!popup.isOpen()) open("");
      } else if (event.key === "Escape" && popup.isOpen()) {
        event.preventDefault();
        event.stopPropagation();
        popup.hide();
        restore();
      }
    });
    input.addEventListener("blur", function () {
      popup.hide();
      restore();
    });
  }

  function enhanceChips(box) {
    if (box.hasAttribute("data-enhanced")) return;
    var input = box.querySelector('input[type="text"]');
    var chosen = box.querySelector(".chip-list");
    if (!input || !chosen) return;
    box.setAttribute("data-enhanced", "");
    var itemName = input.name + "_item";
    var datalist = input.getAttribute("list") && document.getElementById(input.getAttribute("list"));
    var suggestions = datalist ? Array.prototype.map.call(datalist.options, function (o) { return o.value; }) : [];
    // The suggestions already chosen are not in the datalist; put them back for after a removal.
    chosen.querySelectorAll("input").forEach(function (field) {
      if (suggestions.indexOf(field.value) < 0) suggestions.push(field.value);
    });
    input.removeAttribute("list");
    var hint = box.querySelector(".chips-hint");
    if (hint) {
      hint.textContent = "Type to search the values seen; Enter adds one (or several, separated by commas).";
      input.setAttribute("aria-describedby", hint.id);
    }
    var status = document.createElement("span");
    status.className = "visually-hidden";
    status.setAttribute("aria-live", "polite");
    box.appendChild(status);
    var popup = new Popup(input, input.id + "-options", "Values seen");

    function values() {
      return Array.prototype.map.call(chosen.querySelectorAll("input"), function (f) { return f.value; });
    }
    function changed(message) {
      status.textContent = message;
      input.placeholder = values().length ? "add a value" : "Shoes, Boots";
      document.body.dispatchEvent(new CustomEvent("segment-changed", { bubbles: true }));
    }
    function chip(value) {
      var item = document.createElement("li");
      item.className = "chip";
      var text = document.createElement("span");
      text.className = "chip-text";
      text.textContent = value;
      var field = document.createElement("input");
      field.type = "hidden";
      field.name = itemName;
      field.value = value;
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "chip-remove";
      remove.setAttribute("aria-label", "Remove " + value);
      remove.textContent = "×";
      item.append(text, field, remove);
      return item;
    }
    // The chips drawn by the server: ticked boxes, each becomes a chip with its button.
    chosen.querySelectorAll("li").forEach(function (item) {
      var tick = item.querySelector('input[type="checkbox"]');
      if (!tick) return;
      if (tick.checked) chosen.replaceChild(chip(tick.value), item);
      else item.remove();
    });
    function add(value) {
      value = value.trim();
      if (!value || values().indexOf(value) >= 0) return false;
      chosen.appendChild(chip(value));
      return true;
    }
    function open(query) {
      var taken = values();
      var items = ranked(suggestions.filter(function (value) {
        return taken.indexOf(value) < 0;
      }).map(function (value) { return { value: value, label: value, extra: "" }; }), query).slice(0, 50);
      popup.show(items, query && items.length ? 0 : -1);
    }
    popup.onChoose = function (item) {
      if (add(item.value)) {
        input.value = "";
        changed(item.value + " added.");
      }
      open("");
    };
    chosen.addEventListener("click", function (event) {
      var button = event.target instanceof Element && event.target.closest(".chip-remove");
      if (!button) return;
      var item = button.closest(".chip");
      var next = item.nextElementSibling || item.previousElementSibling;
      var value = item.querySelector("input").value;
      item.remove();
      var focus = next && next.querySelector(".chip-remove");
      (focus || input).focus();
      changed(value + " removed.");
    });
    input.addEventListener("click", function () { if (!popup.isOpen()) open(input.value); });
    input.addEventListener("focus", function () { if (!popup.isOpen()) open(input.value); });
    input.addEventListener("input", function () { open(input.value); });
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        if (!popup.isOpen()) open(input.value);
        else popup.move(event.key === "ArrowDown" ? 1 : -1);
      } else if (event.key === "Enter") {
        event.preventDefault();
        var item = popup.isOpen() && popup.current();
        if (item) { popup.onChoose(item); return; }
        var added = input.value.split(",").filter(add);
        if (added.length) {
          input.value = "";
          changed(added.join(", ") + " added.");
          open("");
        }
      } else if (event.key === "Escape" && popup.isOpen()) {
        event.preventDefault();
        event.stopPropagation();
        popup.hide();
      } else if (event.key === "Backspace" && !input.value) {
        var last = chosen.querySelector(".chip:last-child");
        if (last) {
          var value = last.querySelector("input").value;
          last.remove();
          changed(value + " removed.");
        }
      }
    });
    input.addEventListener("blur", function () { popup.hide(); });
  }

  function enhance(root) {
    root.querySelectorAll("select[data-search]").forEach(enhanceSelect);
    root.querySelectorAll("[data-chips]").forEach(enhanceChips);
  }

  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:load", function (event) {
    enhance(event.target instanceof Element ? event.target : document);
    if (refocus) {
      var box = document.getElementById(refocus);
      var lost = !document.activeElement || document.activeElement === document.body;
      if (box && lost) box.focus();
      if (box) refocus = null;
    }
  });
})();
