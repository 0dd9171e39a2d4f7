// The demo storefront's own code: a cart and a login kept in the browser, and the events a
// shop sends through the CDP's tracker (window.analytics), named as the Segment e-commerce
// spec names them.
(function () {
  "use strict";
  var CART = "shop.cart";
  var SHOPPER = "shop.shopper";
  var body = document.body;
  var currency = body.dataset.currency;
  var freeFrom = parseFloat(body.dataset.freeShippingFrom);
  var shippingPrice = parseFloat(body.dataset.shipping);

  function load(key) {
    try {
      return JSON.parse(window.localStorage.getItem(key));
    } catch (e) {
      return null;
    }
  }
  function save(key, value) {
    if (value === null) window.localStorage.removeItem(key);
    else window.localStorage.setItem(key, JSON.stringify(value));
  }
  function randomId(prefix) {
    var alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    var bytes = new Uint8Array(8);
    window.crypto.getRandomValues(bytes);
    var id = "";
    for (var i = 0; i < bytes.length; i++) id += alphabet[bytes[i] % alphabet.length];
    return prefix + id;
  }
  function cart() {
    var current = load(CART);
    if (!current || !current.id) {
      current = { id: randomId("cart-"), lines: [] };
      save(CART, current);
    }
    return current;
  }
  function money(amount) {
    return "$" + amount.toFixed(2);
  }
  function round(amount) {
    return Math.round(amount * 100) / 100;
  }
  function totals(current) {
    var subtotal = 0;
    var count = 0;
    current.lines.forEach(function (line) {
      subtotal += line.price * line.quantity;
      count += line.quantity;
    });
    subtotal = round(subtotal);
    var shipping = subtotal === 0 || subtotal >= freeFrom ? 0 : shippingPrice;
    return { subtotal: subtotal, shipping: shipping, total: round(subtotal + shipping), count: count };
  }
  function lineItems(current) {
    return current.lines.map(function (line, index) {
      return Object.assign({}, line, { position: index + 1 });
    });
  }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      node.setAttribute(key, attrs[key]);
    });
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function all(selector, root) {
    return Array.prototype.slice.call((root || document).querySelectorAll(selector));
  }

  // --- header ---------------------------------------------------------------------------
  function renderHeader() {
    all("[data-cart-count]").forEach(function (node) {
      node.textContent = totals(cart()).count;
    });
    var shopper = load(SHOPPER);
    all("[data-shopper-name]").forEach(function (node) {
      node.hidden = !shopper;
      node.textContent = shopper ? shopper.first_name || shopper.email : "";
    });
    all("[data-login-link]").forEach(function (node) {
      node.hidden = !!shopper;
    });
    all("[data-shop-action=logout]").forEach(function (node) {
      node.hidden = !shopper;
    });
  }

  // --- the shopper ----------------------------------------------------------------------
  function shopperFrom(form) {
    var data = new FormData(form);
    var email = String(data.get("email") || "").trim().toLowerCase();
    return {
      email: email,
      first_name: String(data.get("first_name") || "").trim(),
      last_name: String(data.get("last_name") || "").trim(),
      email_opt_in: data.get("email_opt_in") === "1",
    };
  }
  function logIn(shopper) {
    var traits = { email: shopper.email, email_opt_in: shopper.email_opt_in };
    if (shopper.first_name) traits.first_name = shopper.first_name;
    if (shopper.last_name) traits.last_name = shopper.last_name;
    // The shop's own customer id for this person: their email address.
    window.analytics.identify(shopper.email, traits);
    save(SHOPPER, shopper);
    renderHeader();
  }

  // --- pages ----------------------------------------------------------------------------
  function productPage() {
    var product = JSON.parse(document.getElementById("product-data").textContent);
    window.analytics.track("Product Viewed", Object.assign({ currency: currency }, product));
    var form = document.querySelector("[data-add-to-cart]");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var quantity = Math.max(1, Math.min(20, parseInt(form.quantity.value, 10) || 1));
      var current = cart();
      var line = current.lines.filter(function (l) {
        return l.sku === product.sku;
      })[0];
      if (line) line.quantity += quantity;
      else current.lines.push(Object.assign({}, product, { quantity: quantity }));
      save(CART, current);
      window.analytics.track(
        "Product Added",
        Object.assign({}, product, { cart_id: current.id, quantity: quantity, currency: currency })
      );
      document.querySelector("[data-added-note]").hidden = false;
      renderHeader();
    });
  }

  function renderLines(root, current, removable) {
    var tbody = root.querySelector("[data-cart-lines]");
    tbody.textContent = "";
    current.lines.forEach(function (line) {
      var row = el("tr", { "data-sku": line.sku });
      var name = el("td");
      name.appendChild(el("a", { href: line.url }, line.name));
      row.appendChild(name);
      if (removable) row.appendChild(el("td", { class: "num unit-price" }, money(line.price)));
      row.appendChild(el("td", { class: "num" }, "× " + line.quantity));
      row.appendChild(el("td", { class: "num" }, money(round(line.price * line.quantity))));
      if (removable) {
        var cell = el("td");
        var button = el("button", { type: "button", class: "linklike", "data-remove": line.sku }, "Remove");
        cell.appendChild(button);
        row.appendChild(cell);
      }
      tbody.appendChild(row);
    });
    var sums = totals(current);
    all("[data-cart-subtotal]", root).forEach(function (n) {
      n.textContent = money(sums.subtotal);
    });
    all("[data-cart-shipping]", root).forEach(function (n) {
      n.textContent = sums.shipping ? money(sums.shipping) : "free";
    });
    all("[data-cart-total]", root).forEach(function (n) {
      n.textContent = money(sums.total);
    });
  }

  function cartPage() {
    var root = document.querySelector("[data-cart]");
    function render() {
      var current = cart();
      var empty = current.lines.length === 0;
      root.querySelector("[data-cart-empty]").hidden = !empty;
      root.querySelector("[data-cart-table]").hidden = empty;
      root.querySelector("[data-cart-actions]").hidden = empty;
      renderLines(root, current, true);
      renderHeader();
    }
    var current = cart();
    window.analytics.track("Cart Viewed", {
      cart_id: current.id,
      currency: currency,
      value: totals(current).subtotal,
      products: lineItems(current),
    });
    root.addEventListener("click", function (event) {
      var button = event.target.closest("[data-remove]");
      if (!button) return;
      var now = cart();
      var line = now.lines.filter(function (l) {
        return l.sku === button.dataset.remove;
      })[0];
      if (!line) return;
      now.lines = now.lines.filter(function (l) {
        return l !== line;
      });
      save(CART, now);
      window.analytics.track("Product Removed", Object.assign({}, line, { cart_id: now.id, currency: currency }));
      render();
    });
    render();
  }

  function checkoutPage() {
    var root = document.querySelector("[data-checkout]");
    var current = cart();
    if (current.lines.length === 0) return;
    root.querySelector("[data-cart-empty]").hidden = true;
    root.querySelector("[data-checkout-body]").hidden = false;
    renderLines(root, current, false);
    var sums = totals(current);
    window.analytics.track("Checkout Started", {
      cart_id: current.id,
      currency: currency,
      value: sums.subtotal,
      revenue: sums.subtotal,
      shipping: sums.shipping,
      products: lineItems(current),
    });
    var shopper = load(SHOPPER);
    var guest = root.querySelector("[data-guest-fields]");
    if (shopper) {
      guest.hidden = true;
      guest.disabled = true;
      root.querySelector("[data-known-shopper]").hidden = false;
      root.querySelector("[data-shopper-email]").textContent = shopper.email;
    }
    root.querySelector("[data-checkout-form]").addEventListener("submit", function (event) {
      event.preventDefault();
      if (!load(SHOPPER)) logIn(shopperFrom(event.target));
      var order = cart();
      var orderSums = totals(order);
      var orderId = randomId("WEB-");
      window.analytics.track("Order Completed", {
        order_id: orderId,
        cart_id: order.id,
        total: orderSums.total,
        subtotal: orderSums.subtotal,
        revenue: orderSums.subtotal,
        shipping: orderSums.shipping,
        currency: currency,
        products: lineItems(order),
      });
      save(CART, null);
      root.querySelector("[data-checkout-body]").hidden = true;
      root.querySelector("[data-thanks]").hidden = false;
      root.querySelector("[data-order-id]").textContent = orderId;
      renderHeader();
    });
  }

  function loginPage() {
    document.querySelector("[data-login-form]").addEventListener("submit", function (event) {
      event.preventDefault();
      logIn(shopperFrom(event.target));
      var next = new URLSearchParams(window.location.search).get("next") || "";
      window.location.href = /^\/shop\//.test(next) ? next : "/shop/";
    });
  }

  function categoryPage() {
    var list = JSON.parse(document.getElementById("list-event").textContent);
    window.analytics.track("Product List Viewed", Object.assign({ currency: currency }, list));
  }

  // --- consent (when the site asks for it: STOREFRONT_CONSENT_REQUIRED) ---------------------
  function consentBanner() {
    var asked = window.localStorage.getItem("shop.consent");
    if (body.dataset.consentRequired === "true" && !asked) {
      document.querySelector("[data-consent-banner]").hidden = false;
    }
  }

  document.addEventListener("click", function (event) {
    var action = event.target.closest("[data-shop-action]");
    if (!action) return;
    var name = action.dataset.shopAction;
    if (name === "logout") {
      save(SHOPPER, null);
      save(CART, null);
      window.analytics.reset();
      renderHeader();
      window.location.href = "/shop/";
    } else if (name === "consent-accept" || name === "consent-decline") {
      var accepted = name === "consent-accept";
      window.localStorage.setItem("shop.consent", accepted ? "accepted" : "declined");
      window.analytics.consent(accepted);
      document.querySelector("[data-consent-banner]").hidden = true;
    }
  });

  consentBanner();
  renderHeader();
  var pages = { product: productPage, cart: cartPage, checkout: checkoutPage, login: loginPage, category: categoryPage };
  if (pages[body.dataset.page]) pages[body.dataset.page]();
})();
