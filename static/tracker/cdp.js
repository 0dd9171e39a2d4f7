/*! cdp.js: the CDP's web tracker. Call shapes of Segment's analytics.js: identify, track,
 * page, group, alias, reset, ready, user; plus consent(granted) for sites that must ask first.
 *
 * Messages are kept in localStorage until the server has stored them (a page that closes or
 * goes offline loses nothing: the next page sends them), sent in batches to /v1/batch as
 * text/plain JSON (a CORS "simple" request, so no preflight), and retried with capped backoff
 * on network errors, 429 and 5xx. A message keeps its messageId on every try, and the server
 * stores a messageId once, so a retry never stores an event twice.
 */
(function (window, document) {
  "use strict";
  var VERSION = "1.0.0";
  var stub = window.analytics;
  if (!stub || stub.initialized || typeof stub.push !== "function") return;

  var options = stub._options || {};
  var writeKey = stub._writeKey;
  var host = String(options.host || scriptOrigin()).replace(/\/+$/, "");
  var endpoint = host + "/v1/batch";
  var flushInterval = options.flushInterval || 250;
  var maxBatch = 100;
  var maxBatchChars = 60000; // under the 64 KB that keepalive requests and beacons may carry
  var maxQueue = options.maxQueue || 1000;
  var maxDelay = 60000;
  var prefix = "cdp." + (writeKey || "").slice(0, 8) + ".";
  var cookieName = "cdp_anonymous_id";

  var memory = {}; // storage when localStorage is unusable, and before consent
  var readyCallbacks = [];
  var inflight = {}; // messageIds this page is sending now
  var timer = null;
  var attempts = 0;
  var sending = false;

  // --- storage ------------------------------------------------------------------------
  function consentState() {
    if (!options.consentRequired) return "granted";
    return read("consent") || "pending";
  }
  function mayStore() {
    return consentState() === "granted";
  }
  function local() {
    try {
      var probe = prefix + "probe";
      window.localStorage.setItem(probe, "1");
      window.localStorage.removeItem(probe);
      return window.localStorage;
    } catch (e) {
      return null;
    }
  }
  function read(key) {
    var ls = local();
    var raw = ls ? ls.getItem(prefix + key) : null;
    if (raw === null || raw === undefined) return key in memory ? memory[key] : null;
    try {
      return JSON.parse(raw);
    } catch (e) {
      return null;
    }
  }
  function write(key, value) {
    memory[key] = value;
    var ls = local();
    if (!ls || (!mayStore() && key !== "consent")) return;
    try {
      if (value === null) ls.removeItem(prefix + key);
      else ls.setItem(prefix + key, JSON.stringify(value));
    } catch (e) {
      /* full or refused: memory keeps it for this page */
    }
  }
  function getCookie(name) {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      if (parts[i].slice(0, eq) === name) return decodeURIComponent(parts[i].slice(eq + 1));
    }
    return null;
  }
  function setCookie(name, value) {
    if (!mayStore()) return;
    var cookie = name + "=" + encodeURIComponent(value) + "; path=/; SameSite=Lax";
    cookie += value ? "; max-age=31536000" : "; max-age=0";
    if (options.cookieDomain) cookie += "; domain=" + options.cookieDomain;
    if (window.location.protocol === "https:") cookie += "; Secure";
    document.cookie = cookie;
  }

  // --- identity -----------------------------------------------------------------------
  function uuid() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = "";
    for (var i = 0; i < 16; i++) hex += (bytes[i] + 0x100).toString(16).slice(1);
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
  }
  function anonymousId() {
    var id = getCookie(cookieName) || read("anonymousId");
    if (!id) id = uuid();
    persistAnonymousId(id);
    return id;
  }
  function persistAnonymousId(id) {
    if (getCookie(cookieName) !== id) setCookie(cookieName, id);
    if (read("anonymousId") !== id) write("anonymousId", id);
  }

  // --- messages -----------------------------------------------------------------------
  function pageContext() {
    var canonical = document.querySelector("link[rel='canonical']");
    var url = canonical && canonical.href ? canonical.href : window.location.href;
    return {
      path: window.location.pathname,
      referrer: document.referrer,
      search: window.location.search,
      title: document.title,
      url: url.split("#")[0],
    };
  }
  function utm() {
    var campaign = {};
    var params = window.location.search.replace(/^\?/, "").split("&");
    for (var i = 0; i < params.length; i++) {
      var pair = params[i].split("=");
      var match = /^utm_(source|medium|campaign|term|content)$/.exec(pair[0]);
      if (match) {
        var value = decodeURIComponent((pair[1] || "").replace(/\+/g, " "));
        campaign[match[1] === "campaign" ? "name" : match[1]] = value;
      }
    }
    return campaign;
  }
  function assign(target) {
    for (var i = 1; i < arguments.length; i++) {
      var source = arguments[i];
      if (!source) continue;
      for (var key in source) {
        if (Object.prototype.hasOwnProperty.call(source, key)) target[key] = source[key];
      }
    }
    return target;
  }
  function baseContext() {
    var context = {
      library: { name: "cdp.js", version: VERSION },
      page: pageContext(),
      userAgent: navigator.userAgent,
      locale: navigator.language,
      screen: { width: window.screen.width, height: window.screen.height },
    };
    try {
      context.timezone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    } catch (e) {
      /* an old browser: the profile keeps the site's time zone */
    }
    var campaign = utm();
    for (var key in campaign) {
      context.campaign = campaign;
      break;
    }
    return context;
  }
  function enqueue(message, opts, callback) {
    opts = opts || {};
    var context = assign(baseContext(), opts.context);
    if (opts.context && opts.context.page) context.page = assign(pageContext(), opts.context.page);
    message.messageId = uuid();
    message.timestamp = opts.timestamp ? new Date(opts.timestamp).toISOString() : new Date().toISOString();
    message.anonymousId = opts.anonymousId || anonymousId();
    var userId = read("userId");
    if (userId && message.userId === undefined) message.userId = userId;
    message.context = context;
    if (opts.integrations) message.integrations = opts.integrations;
    if (consentState() === "denied") {
      done(callback);
      return;
    }
    var queue = read("queue") || [];
    queue.push(message);
    if (queue.length > maxQueue) queue.splice(0, queue.length - maxQueue);
    write("queue", queue);
    schedule(flushInterval);
    done(callback);
  }
  function done(callback) {
    if (typeof callback === "function") window.setTimeout(callback, 0);
  }
  // Segment's argument rules: optional arguments may be left out, a function ends the list.
  function split(args) {
    var list = Array.prototype.slice.call(args);
    var callback = null;
    for (var i = 0; i < list.length; i++) {
      if (typeof list[i] === "function") {
        callback = list[i];
        list = list.slice(0, i);
        break;
      }
    }
    return { list: list, callback: callback };
  }
  function isObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
  }

  // --- sending ------------------------------------------------------------------------
  function schedule(delay) {
    if (timer !== null) return;
    timer = window.setTimeout(function () {
      timer = null;
      flush();
    }, delay);
  }
  function retry(retryAfterSeconds) {
    attempts += 1;
    var delay = Math.min(maxDelay, 1000 * Math.pow(2, attempts - 1));
    delay = delay / 2 + Math.random() * (delay / 2);
    if (retryAfterSeconds > 0) delay = Math.max(delay, Math.min(retryAfterSeconds * 1000, 10 * maxDelay));
    schedule(delay);
  }
  function pending() {
    if (!writeKey || consentState() !== "granted") return [];
    var queue = read("queue") || [];
    var batch = [];
    var chars = 0;
    for (var i = 0; i < queue.length && batch.length < maxBatch; i++) {
      if (inflight[queue[i].messageId]) continue;
      var size = JSON.stringify(queue[i]).length;
      if (batch.length && chars + size > maxBatchChars) break;
      batch.push(queue[i]);
      chars += size;
    }
    return batch;
  }
  function body(batch) {
    return JSON.stringify({ batch: batch, sentAt: new Date().toISOString(), writeKey: writeKey });
  }
  function forget(batch) {
    var ids = {};
    for (var i = 0; i < batch.length; i++) {
      ids[batch[i].messageId] = true;
      delete inflight[batch[i].messageId];
    }
    var queue = (read("queue") || []).filter(function (message) {
      return !ids[message.messageId];
    });
    write("queue", queue);
  }
  function release(batch) {
    for (var i = 0; i < batch.length; i++) delete inflight[batch[i].messageId];
  }
  function flush() {
    if (sending) return;
    var batch = pending();
    if (!batch.length) return;
    if (navigator.onLine === false) {
      return; // the "online" event sends them
    }
    sending = true;
    for (var i = 0; i < batch.length; i++) inflight[batch[i].messageId] = true;
    var payload = body(batch);
    window
      .fetch(endpoint, {
        method: "POST",
        body: payload,
        headers: { "Content-Type": "text/plain" },
        credentials: "omit",
        keepalive: payload.length < maxBatchChars,
      })
      .then(function (response) {
        sending = false;
        if (response.ok) {
          attempts = 0;
          forget(batch);
          response
            .json()
            .then(function (result) {
              if (result && result.refused && result.refused.length && window.console) {
                window.console.warn("cdp.js: the server refused some events", result.refused);
              }
            })
            .catch(function () {});
          schedule(0);
        } else if (response.status === 429 || response.status >= 500) {
          release(batch);
          retry(parseInt(response.headers.get("Retry-After"), 10));
        } else {
          // Refused whole (a revoked key, a disallowed origin): sending it again cannot help.
          forget(batch);
          if (window.console) window.console.error("cdp.js: events refused, HTTP " + response.status);
        }
      })
      .catch(function () {
        sending = false;
        release(batch);
        retry(0);
      });
  }
  // A page being left or hidden: send what waits now, by beacon. The messages stay queued
  // until a fetch has confirmed them, so one that the beacon did not deliver goes with the
  // next page; the server stores a messageId once.
  function beacon() {
    if (navigator.onLine === false || !navigator.sendBeacon) return;
    var batch = pending();
    if (!batch.length) return;
    try {
      navigator.sendBeacon(endpoint, new Blob([body(batch)], { type: "text/plain" }));
    } catch (e) {
      /* the queue keeps them */
    }
  }

  // --- the public calls ---------------------------------------------------------------
  var analytics = {
    initialized: true,
    VERSION: VERSION,
    identify: function () {
      var a = split(arguments);
      var list = a.list;
      var userId;
      if (isObject(list[0])) userId = undefined;
      else if (list[0] === null || list[0] === undefined) list = list.slice(1);
      else userId = String(list.shift());
      var traits = isObject(list[0]) ? list[0] : {};
      if (userId !== undefined) write("userId", userId);
      write("traits", assign({}, read("traits"), traits));
      var message = { type: "identify", traits: traits };
      if (userId !== undefined) message.userId = userId;
      enqueue(message, list[1], a.callback);
      return analytics;
    },
    track: function (event, properties, opts, callback) {
      var a = split(arguments);
      enqueue(
        { type: "track", event: String(a.list[0]), properties: isObject(a.list[1]) ? a.list[1] : {} },
        a.list[2],
        a.callback
      );
      return analytics;
    },
    page: function () {
      var a = split(arguments);
      var list = a.list;
      var strings = [];
      while (list.length && (typeof list[0] === "string" || list[0] === null)) strings.push(list.shift());
      var category = strings.length > 1 ? strings[0] : null;
      var name = strings.length > 1 ? strings[1] : strings[0] || null;
      var properties = assign(pageContext(), isObject(list[0]) ? list[0] : {});
      if (name) properties.name = name;
      if (category) properties.category = category;
      var message = { type: "page", properties: properties };
      if (name) message.name = name;
      if (category) message.category = category;
      enqueue(message, list[1], a.callback);
      return analytics;
    },
    group: function (groupId, traits, opts, callback) {
      var a = split(arguments);
      enqueue(
        { type: "group", groupId: String(a.list[0]), traits: isObject(a.list[1]) ? a.list[1] : {} },
        a.list[2],
        a.callback
      );
      return analytics;
    },
    alias: function (userId, previousId, opts, callback) {
      var a = split(arguments);
      var list = a.list;
      var previous = typeof list[1] === "string" ? list[1] : read("userId") || anonymousId();
      var rest = typeof list[1] === "string" ? list[2] : list[1];
      enqueue({ type: "alias", userId: String(list[0]), previousId: previous }, rest, a.callback);
      return analytics;
    },
    // On logout: the next visitor on this browser is someone new.
    reset: function () {
      write("userId", null);
      write("traits", null);
      setCookie(cookieName, "");
      write("anonymousId", null);
      anonymousId();
      return analytics;
    },
    // With `consentRequired`, nothing is sent or stored until consent(true); consent(false)
    // drops what waited.
    consent: function (granted) {
      if (granted) {
        write("consent", "granted");
        for (var key in memory) {
          if (key !== "consent" && memory[key] !== null) write(key, memory[key]);
        }
        anonymousId();
        schedule(0);
      } else {
        write("consent", "denied");
        memory = { consent: "denied" };
        var ls = local();
        if (ls) {
          ["queue", "userId", "traits", "anonymousId"].forEach(function (key) {
            ls.removeItem(prefix + key);
          });
        }
        setCookie(cookieName, "");
      }
      return analytics;
    },
    ready: function (callback) {
      if (typeof callback === "function") readyCallbacks.push(callback);
      return analytics;
    },
    user: function () {
      return {
        id: function () {
          return read("userId");
        },
        anonymousId: function () {
          return anonymousId();
        },
        traits: function () {
          return read("traits") || {};
        },
      };
    },
    flush: function () {
      flush();
      return analytics;
    },
  };

  function scriptOrigin() {
    var script = document.currentScript;
    if (script && script.src) return script.src.replace(/^(\w+:\/\/[^/]+).*$/, "$1");
    return window.location.origin;
  }

  window.analytics = analytics;
  window.addEventListener("online", function () {
    attempts = 0;
    schedule(0);
  });
  window.addEventListener("pagehide", beacon);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") beacon();
  });

  // Calls made before this script loaded, in their order; then the automatic page view,
  // unless the page asked for one itself (as Segment's snippet does) or turned it off.
  var pagedAlready = false;
  for (var i = 0; i < stub.length; i++) {
    var call = stub[i];
    if (!call || typeof analytics[call[0]] !== "function") continue;
    if (call[0] === "page") pagedAlready = true;
    analytics[call[0]].apply(analytics, call.slice(1));
  }
  if (options.page !== false && !pagedAlready) analytics.page();
  var callbacks = readyCallbacks;
  analytics.ready = function (callback) {
    if (typeof callback === "function") window.setTimeout(callback, 0);
    return analytics;
  };
  for (var j = 0; j < callbacks.length; j++) window.setTimeout(callbacks[j], 0);
  schedule(0);
})(window, document);
