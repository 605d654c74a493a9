/*
 * ChatPad web widget. Embed with one tag:
 *   <script src="https://YOUR-CHATPAD/widget.js" data-chatpad-key="wk_…" async></script>
 *
 * - Shadow DOM: the host page's CSS cannot reach inside, ours does not leak out.
 * - CSP-friendly: no eval, no inline handlers, no inline style attributes; styles go in a constructed stylesheet.
 * - Everything the server or a visitor sends is rendered with textContent (links are built as elements, http/https
 *   only): the widget never injects HTML.
 * - Live updates over EventSource (Last-Event-ID resume, heartbeats) from ChatPad's stream process; long polling
 *   when a stream stalls or is refused, and short polling while a long poll is refused (429/503, Retry-After).
 * - The visitor token lives in localStorage under "chatpad:<key>" and travels in the Authorization header.
 */
(function () {
  "use strict";

  var script = document.currentScript || document.querySelector("script[data-chatpad-key]");
  if (!script) return;
  var KEY = script.getAttribute("data-chatpad-key") || "";
  if (!/^[A-Za-z0-9_-]{1,100}$/.test(KEY)) {
    console.warn("ChatPad widget: data-chatpad-key is missing or malformed.");
    return;
  }
  window.__chatpadWidgets = window.__chatpadWidgets || {};
  if (window.__chatpadWidgets[KEY]) return;
  window.__chatpadWidgets[KEY] = true;

  var BASE = new URL(".", script.src).href.replace(/\/$/, "");
  var API = BASE + "/api/widget/" + encodeURIComponent(KEY);
  var STORE_KEY = "chatpad:" + KEY;
  var COLOR_RE = /^#[0-9a-fA-F]{6}$/;

  // --- storage (private browsing may refuse it: then the session lasts as long as the page) ---
  var memoryStore = {};
  function load() {
    try {
      return JSON.parse(window.localStorage.getItem(STORE_KEY) || "{}") || {};
    } catch (e) {
      return memoryStore;
    }
  }
  function save(data) {
    memoryStore = data;
    try {
      window.localStorage.setItem(STORE_KEY, JSON.stringify(data));
    } catch (e) {
      /* storage refused: keep it in memory */
    }
  }

  // A path from the API, on the server this script came from.
  function absolute(path) {
    return new URL(path, script.src).href;
  }

  // --- DOM helpers ---
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        var value = attrs[name];
        if (value === null || value === undefined || value === false) return;
        if (name === "text") node.textContent = value;
        else if (name === "className") node.className = value;
        else node.setAttribute(name, value === true ? "" : String(value));
      });
    }
    (children || []).forEach(function (child) {
      if (child) node.appendChild(child);
    });
    return node;
  }

  function svgIcon(path) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "22");
    svg.setAttribute("height", "22");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var p = document.createElementNS(ns, "path");
    p.setAttribute("d", path);
    p.setAttribute("fill", "currentColor");
    svg.appendChild(p);
    return svg;
  }

  var URL_RE = /\bhttps?:\/\/[^\s<>"')\]]+/g;

  // Text with its web links clickable: text nodes and <a> elements, never parsed HTML.
  function richText(text) {
    var frag = document.createDocumentFragment();
    var last = 0;
    String(text).replace(URL_RE, function (url, index) {
      if (index > last) frag.appendChild(document.createTextNode(text.slice(last, index)));
      var trimmed = url.replace(/[.,;:!?]+$/, "");
      frag.appendChild(el("a", { href: trimmed, target: "_blank", rel: "noopener noreferrer", text: trimmed }));
      last = index + trimmed.length;
      return url;
    });
    if (last < text.length) frag.appendChild(document.createTextNode(text.slice(last)));
    return frag;
  }

  var CSS = [
    // The page's rules on the host element beat :host, and inherited values (letter-spacing, fonts) would flow in:
    // the widget's root starts from initial values instead.
    ":host{all:initial}",
    ".cp{all:initial;display:block;--cp-accent:#1d4ed8;--cp-accent-text:#fff;position:fixed;bottom:20px;right:20px;",
    "z-index:2147483000;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1f2328;",
    "text-align:left;direction:ltr}",
    ".cp.cp-left{right:auto;left:20px}",
    ".cp *{box-sizing:border-box}",
    ".cp-launcher{display:flex;align-items:center;gap:8px;border:0;border-radius:999px;padding:12px 18px;",
    "background:var(--cp-accent);color:var(--cp-accent-text);font:inherit;font-weight:600;cursor:pointer;",
    "box-shadow:0 6px 20px rgba(0,0,0,.2);min-height:48px;position:relative}",
    ".cp-launcher:focus-visible,.cp button:focus-visible,.cp textarea:focus-visible,.cp input:focus-visible,",
    ".cp a:focus-visible,.cp-log:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}",
    ".cp-badge{position:absolute;top:-6px;right:-6px;min-width:22px;height:22px;border-radius:11px;",
    "background:#dc2626;color:#fff;font-size:12px;line-height:22px;text-align:center;padding:0 6px}",
    ".cp-panel{position:absolute;bottom:64px;right:0;width:370px;max-width:calc(100vw - 40px);",
    "height:560px;max-height:calc(100vh - 110px);display:flex;flex-direction:column;background:#fff;",
    "border-radius:14px;box-shadow:0 12px 40px rgba(0,0,0,.25);overflow:hidden}",
    ".cp.cp-left .cp-panel{right:auto;left:0}",
    "[hidden]{display:none!important}",
    ".cp-head{display:flex;align-items:center;gap:8px;padding:12px 14px;background:var(--cp-accent);",
    "color:var(--cp-accent-text)}",
    ".cp-head h2{flex:1;margin:0;font-size:16px;font-weight:700;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}",
    ".cp-head button{border:0;background:transparent;color:inherit;font:inherit;cursor:pointer;padding:6px 8px;",
    "border-radius:6px;min-height:36px;min-width:36px}",
    ".cp-head button:hover{background:rgba(255,255,255,.15)}",
    ".cp-status{padding:6px 14px;background:#ecfdf5;color:#065f46;font-size:13px;border-bottom:1px solid #d1fae5}",
    ".cp-log{flex:1;overflow-y:auto;padding:14px;display:flex;flex-direction:column;gap:8px;background:#f6f7f9}",
    ".cp-msg{max-width:85%;padding:9px 12px;border-radius:14px;white-space:pre-wrap;overflow-wrap:anywhere}",
    ".cp-msg a{color:inherit;text-decoration:underline}",
    ".cp-from-visitor{align-self:flex-end;background:var(--cp-accent);color:var(--cp-accent-text);border-bottom-right-radius:4px}",
    ".cp-from-ai,.cp-from-human,.cp-from-system,.cp-greeting{align-self:flex-start;background:#fff;",
    "border:1px solid #e3e6ea;border-bottom-left-radius:4px}",
    ".cp-author{display:block;font-size:12px;font-weight:600;color:#57606a;margin-bottom:2px}",
    ".cp-pending{opacity:.6}",
    ".cp-failed{outline:2px solid #dc2626}",
    ".cp-notice{align-self:center;font-size:13px;color:#57606a;background:#eef0f3;border-radius:999px;padding:4px 12px}",
    ".cp-chips{display:flex;flex-wrap:wrap;gap:6px;align-self:flex-start}",
    ".cp-chip{border:1px solid var(--cp-accent);color:var(--cp-accent);background:#fff;border-radius:999px;",
    "padding:6px 12px;font:inherit;font-size:14px;cursor:pointer;text-decoration:none;min-height:36px}",
    ".cp-typing{padding:0 14px 6px;font-size:13px;color:#57606a;background:#f6f7f9}",
    ".cp-form{padding:10px 14px;border-top:1px solid #e3e6ea;display:flex;flex-direction:column;gap:8px}",
    ".cp-form p,.cp-form legend{margin:0;font-size:14px;font-weight:600}",
    ".cp-form fieldset{border:0;padding:0;margin:0;display:flex;flex-wrap:wrap;gap:6px}",
    ".cp-row{display:flex;gap:8px}",
    ".cp input,.cp textarea{font:inherit;border:1px solid #c8ccd1;border-radius:8px;padding:8px 10px;width:100%;color:#1f2328;background:#fff}",
    ".cp-btn{border:0;border-radius:8px;padding:8px 14px;background:var(--cp-accent);color:var(--cp-accent-text);",
    "font:inherit;font-weight:600;cursor:pointer;min-height:40px}",
    ".cp-btn-quiet{background:transparent;color:#57606a;border:1px solid #c8ccd1}",
    ".cp-score{border:1px solid #c8ccd1;background:#fff;border-radius:8px;padding:6px 12px;font:inherit;cursor:pointer;min-height:40px;min-width:44px}",
    ".cp-score[aria-pressed=true]{background:var(--cp-accent);color:var(--cp-accent-text);border-color:var(--cp-accent)}",
    ".cp-composer{display:flex;gap:8px;padding:10px;border-top:1px solid #e3e6ea;background:#fff}",
    ".cp-composer textarea{resize:none;height:44px;max-height:120px}",
    ".cp-link{border:0;background:none;color:var(--cp-accent);font:inherit;font-size:13px;cursor:pointer;padding:4px 14px;text-align:left;text-decoration:underline}",
    ".cp-error{margin:0;padding:6px 14px;font-size:13px;color:#991b1b;background:#fef2f2}",
    ".cp-sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}",
    "@media (max-width:480px){.cp{bottom:12px;right:12px}.cp.cp-left{left:12px}",
    ".cp.cp-open .cp-launcher{display:none}",
    ".cp-panel{position:fixed;inset:0;width:100vw;max-width:100vw;height:100%;max-height:100%;border-radius:0}}",
    "@media (prefers-reduced-motion:no-preference){.cp-panel{animation:cp-in .15s ease-out}}",
    "@keyframes cp-in{from{opacity:0;transform:translateY(8px)}to{opacity:1;transform:none}}",
  ].join("");

  // --- state ---
  var config = null;
  var session = null; // {token, visitor, stream_url, long_poll_url, poll_url, poll_seconds, heartbeat, conversation, cursor, limits}
  var sessionPromise = null;
  var cursor = null;
  var shownIds = {};
  var shownClientIds = {};
  var convState = null;
  var open = false;
  var unread = 0;
  var ui = {};
  var live = { es: null, mode: "stream", failures: 0, lastBeat: 0, readyAt: 0, openedAt: 0, polling: false, stopped: false };

  function request(method, path, body, options) {
    options = options || {};
    var headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    var token = options.token !== undefined ? options.token : session && session.token;
    if (token) headers.Authorization = "Bearer " + token;
    // A URL from the API (the stream process may be elsewhere), a path from the API, or a path under this widget.
    var url = /^https?:\/\//.test(path) || path.indexOf("/api/") === 0 ? absolute(path) : API + path;
    return fetch(url, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      mode: "cors",
      credentials: "omit",
      cache: "no-store",
    }).then(function (response) {
      return response
        .json()
        .catch(function () {
          return {};
        })
        .then(function (data) {
          if (!response.ok) {
            var err = new Error(data.message || "HTTP " + response.status);
            err.status = response.status;
            err.code = data.error;
            err.retryAfter = parseInt(response.headers.get("Retry-After") || "0", 10) || 0;
            throw err;
          }
          data.__status = response.status;
          return data;
        });
    });
  }

  // --- building the widget ---
  function build() {
    // A custom element name: the page's own "div { … }" rules cannot match the host.
    var host = el("chatpad-widget", { id: "chatpad-widget-" + KEY, "data-chatpad-widget": KEY });
    var root = host.attachShadow({ mode: "open" });
    if (root.adoptedStyleSheets !== undefined && typeof CSSStyleSheet === "function" && "replaceSync" in CSSStyleSheet.prototype) {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } else {
      root.appendChild(el("style", { text: CSS }));
    }
    var a = config;
    ui.wrap = el("div", { className: "cp" + (a.position === "left" ? " cp-left" : "") });
    if (COLOR_RE.test(a.color)) ui.wrap.style.setProperty("--cp-accent", a.color);
    if (COLOR_RE.test(a.text_color)) ui.wrap.style.setProperty("--cp-accent-text", a.text_color);

    ui.badge = el("span", { className: "cp-badge", "aria-hidden": "true", hidden: true });
    ui.launcher = el(
      "button",
      { type: "button", className: "cp-launcher", "aria-expanded": "false", "aria-controls": "cp-panel" },
      [svgIcon("M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z"), el("span", { text: a.launcher_text }), ui.badge]
    );
    ui.launcherLabel = a.launcher_text;

    ui.title = el("h2", { id: "cp-title", text: a.title });
    ui.endButton = el("button", { type: "button", className: "cp-end", text: "End chat", hidden: true });
    ui.closeButton = el("button", { type: "button", className: "cp-close", "aria-label": "Close chat" }, [
      svgIcon("M6.4 5 5 6.4 10.6 12 5 17.6 6.4 19l5.6-5.6 5.6 5.6 1.4-1.4-5.6-5.6L19 6.4 17.6 5 12 10.6z"),
    ]);
    ui.status = el("p", { className: "cp-status", role: "status", hidden: true });
    ui.log = el("div", {
      className: "cp-log",
      role: "log",
      "aria-live": "polite",
      "aria-relevant": "additions",
      "aria-label": "Conversation",
      tabindex: "0",
    });
    ui.log.appendChild(el("div", { className: "cp-msg cp-greeting", text: a.greeting }));
    ui.typing = el("div", { className: "cp-typing", role: "status", hidden: true });
    ui.error = el("p", { className: "cp-error", role: "alert", hidden: true });

    // Optional name and email, so the team can follow up and recognise the visitor on other channels.
    ui.contactToggle = el("button", { type: "button", className: "cp-link", text: "Add your name and email (optional)", hidden: true });
    ui.contactName = el("input", { id: "cp-name", name: "name", autocomplete: "name", maxlength: "200" });
    ui.contactEmail = el("input", { id: "cp-email", name: "email", type: "email", autocomplete: "email", maxlength: "254" });
    ui.contactForm = el("form", { className: "cp-form cp-contact", hidden: true, "aria-label": "Your details" }, [
      el("p", { text: "Your details (optional)" }),
      el("label", { for: "cp-name", text: "Name" }),
      ui.contactName,
      el("label", { for: "cp-email", text: "Email" }),
      ui.contactEmail,
      el("div", { className: "cp-row" }, [
        el("button", { type: "submit", className: "cp-btn", text: "Save" }),
        el("button", { type: "button", className: "cp-btn cp-btn-quiet cp-contact-skip", text: "Not now" }),
      ]),
    ]);

    ui.ratingForm = buildRating();

    ui.input = el("textarea", {
      id: "cp-input",
      name: "message",
      rows: "1",
      placeholder: "Write a message…",
      maxlength: "4000",
      "aria-label": "Message",
    });
    ui.sendButton = el("button", { type: "submit", className: "cp-btn cp-send", text: "Send" });
    ui.composer = el("form", { className: "cp-composer" }, [ui.input, ui.sendButton]);

    ui.panel = el(
      "section",
      { id: "cp-panel", className: "cp-panel", role: "dialog", "aria-modal": "false", "aria-labelledby": "cp-title", hidden: true },
      [
        el("div", { className: "cp-head" }, [ui.title, ui.endButton, ui.closeButton]),
        ui.status,
        ui.log,
        ui.typing,
        ui.error,
        ui.contactToggle,
        ui.contactForm,
        ui.ratingForm,
        ui.composer,
      ]
    );
    ui.wrap.appendChild(ui.panel);
    ui.wrap.appendChild(ui.launcher);
    root.appendChild(ui.wrap);
    document.body.appendChild(host);
    updateLauncherLabel();

    ui.launcher.addEventListener("click", function () {
      setOpen(!open);
    });
    ui.closeButton.addEventListener("click", function () {
      setOpen(false);
    });
    ui.panel.addEventListener("keydown", function (event) {
      if (event.key === "Escape") {
        event.stopPropagation();
        setOpen(false);
      }
    });
    ui.composer.addEventListener("submit", function (event) {
      event.preventDefault();
      sendText(ui.input.value);
    });
    ui.input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        sendText(ui.input.value);
      }
    });
    ui.endButton.addEventListener("click", endChat);
    ui.contactToggle.addEventListener("click", function () {
      ui.contactToggle.hidden = true;
      ui.contactForm.hidden = false;
      ui.contactName.focus();
    });
    ui.contactForm.addEventListener("submit", function (event) {
      event.preventDefault();
      saveContact();
    });
    ui.contactForm.querySelector(".cp-contact-skip").addEventListener("click", function () {
      ui.contactForm.hidden = true;
      var stored = load();
      stored.contactDismissed = true;
      save(stored);
      ui.input.focus();
    });
  }

  function buildRating() {
    var scale = config.rating_scale === "five" ? "five" : "thumbs";
    var choices =
      scale === "five"
        ? [1, 2, 3, 4, 5].map(function (n) {
            return { score: n, label: String(n), name: n + " out of 5" };
          })
        : [
            { score: 1, label: "👍 Good", name: "Good" },
            { score: 0, label: "👎 Not good", name: "Not good" },
          ];
    ui.ratingScore = null;
    ui.ratingButtons = choices.map(function (c) {
      var b = el("button", { type: "button", className: "cp-score", "aria-pressed": "false", "aria-label": c.name, text: c.label });
      b.addEventListener("click", function () {
        ui.ratingScore = c.score;
        ui.ratingButtons.forEach(function (other) {
          other.setAttribute("aria-pressed", other === b ? "true" : "false");
        });
      });
      return b;
    });
    ui.ratingComment = el("textarea", { id: "cp-rating-comment", rows: "2", maxlength: "1000" });
    var form = el("form", { className: "cp-form cp-rating", hidden: true, "aria-label": "Rate this conversation" }, [
      el("fieldset", {}, [el("legend", { text: scale === "five" ? "How was this conversation? (1–5)" : "How was this conversation?" })].concat(ui.ratingButtons)),
      el("label", { for: "cp-rating-comment", text: "Comment (optional)" }),
      ui.ratingComment,
      el("div", { className: "cp-row" }, [el("button", { type: "submit", className: "cp-btn", text: "Send rating" })]),
    ]);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      sendRating(scale);
    });
    return form;
  }

  function setOpen(value) {
    open = value;
    ui.panel.hidden = !open;
    ui.wrap.classList.toggle("cp-open", open);
    ui.launcher.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) {
      unread = 0;
      updateLauncherLabel();
      ensureSession().then(function () {
        refreshChrome();
        scrollDown();
      });
      ui.input.focus();
    } else {
      ui.launcher.focus();
    }
  }

  function updateLauncherLabel() {
    ui.badge.hidden = unread === 0;
    ui.badge.textContent = String(unread);
    var label = (open ? "Close chat" : "Open chat") + ": " + ui.launcherLabel + (unread ? " (" + unread + " new)" : "");
    ui.launcher.setAttribute("aria-label", label);
  }

  function showError(text) {
    ui.error.textContent = text || "";
    ui.error.hidden = !text;
  }

  function scrollDown() {
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  function notice(text) {
    ui.log.appendChild(el("div", { className: "cp-notice", text: text }));
    scrollDown();
  }

  // --- messages ---
  function addMessage(m) {
    if (shownIds[m.id]) return;
    if (m.client_id && shownClientIds[m.client_id]) {
      var pending = shownClientIds[m.client_id];
      pending.classList.remove("cp-pending", "cp-failed");
      pending.setAttribute("data-id", m.id);
      shownIds[m.id] = pending;
      return;
    }
    var from = ["visitor", "ai", "human", "system"].indexOf(m.from) >= 0 ? m.from : "ai";
    var node = el("div", { className: "cp-msg cp-from-" + from, "data-id": m.id });
    if (from !== "visitor" && m.author) node.appendChild(el("span", { className: "cp-author", text: m.author }));
    else if (from === "visitor") node.appendChild(el("span", { className: "cp-sr", text: "You: " }));
    node.appendChild(richText(m.text || ""));
    shownIds[m.id] = node;
    if (m.client_id) shownClientIds[m.client_id] = node;
    removeChips();
    ui.log.appendChild(node);
    var chips = [];
    (m.quick_replies || []).forEach(function (q) {
      if (q && q.title) chips.push(chipButton(q.title));
    });
    (m.buttons || []).forEach(function (b) {
      if (!b || !b.title) return;
      if (b.type === "link" && /^https?:\/\//.test(b.url || "")) {
        chips.push(el("a", { className: "cp-chip", href: b.url, target: "_blank", rel: "noopener noreferrer", text: b.title }));
      } else if (b.type === "phone" && /^[+0-9 ()-]{3,30}$/.test(b.phone || "")) {
        chips.push(el("a", { className: "cp-chip", href: "tel:" + b.phone.replace(/[^+0-9]/g, ""), text: b.title }));
      } else if (b.type === "reply") {
        chips.push(chipButton(b.title));
      }
    });
    if (chips.length) ui.log.appendChild(el("div", { className: "cp-chips" }, chips));
    if (from !== "visitor") {
      setTyping(false);
      if (!open) {
        unread += 1;
        updateLauncherLabel();
      }
    }
    scrollDown();
  }

  function chipButton(title) {
    var b = el("button", { type: "button", className: "cp-chip", text: title });
    b.addEventListener("click", function () {
      sendText(title);
    });
    return b;
  }

  function removeChips() {
    Array.prototype.forEach.call(ui.log.querySelectorAll(".cp-chips"), function (node) {
      node.remove();
    });
  }

  function setTyping(on) {
    ui.typing.hidden = !on;
    ui.typing.textContent = on ? config.title + " is typing…" : "";
  }

  function applyState(state) {
    if (!state) return;
    var before = convState;
    convState = state;
    if (state.human && before && !before.human) {
      var who = state.agent_name && state.agent_name !== "Team member" ? " (" + state.agent_name + ")" : "";
      notice("A team member" + who + " has joined");
    }
    refreshChrome();
  }

  function refreshChrome() {
    var state = convState;
    if (state && state.human) {
      ui.status.hidden = false;
      ui.status.textContent = "A team member has joined the conversation";
    } else if (state && state.waiting && state.status !== "resolved") {
      ui.status.hidden = false;
      ui.status.textContent = "A team member will be with you shortly";
    } else {
      ui.status.hidden = true;
    }
    var ended = state && state.status === "resolved";
    ui.endButton.hidden = !state || ended;
    if (ended && !state.rating) {
      ui.ratingForm.hidden = false;
    } else if (!ended) {
      ui.ratingForm.hidden = true;
    }
    var stored = load();
    var known = session && session.visitor && (session.visitor.name || session.visitor.email);
    ui.contactToggle.hidden = !(config.ask_contact && !known && !stored.contactDismissed && ui.contactForm.hidden);
  }

  // --- the session ---
  function ensureSession(force) {
    if (session && !force) return Promise.resolve(session);
    if (sessionPromise && !force) return sessionPromise;
    var stored = load();
    sessionPromise = request("POST", "/session", {}, { token: stored.token || null })
      .then(function (data) {
        session = data;
        var keep = load();
        keep.token = data.token;
        save(keep);
        if (data.limits && data.limits.max_message_chars) ui.input.setAttribute("maxlength", String(data.limits.max_message_chars));
        (data.messages || []).forEach(function (m) {
          addMessage(m);
        });
        // The first open: what the assistant can do, as chips under the greeting (a tap sends it as a message).
        if (!(data.messages || []).length && (data.greeting_quick_replies || []).length) {
          ui.log.appendChild(el("div", { className: "cp-chips" }, data.greeting_quick_replies.map(chipButton)));
        }
        if (!open) {
          unread = 0;
          updateLauncherLabel();
        }
        cursor = data.cursor;
        convState = data.conversation;
        refreshChrome();
        startLive();
        return data;
      })
      .catch(function (err) {
        sessionPromise = null;
        showError(err.status === 429 ? "Too many visitors from your network just now; please try again shortly." : "The chat is unavailable right now.");
        throw err;
      });
    return sessionPromise;
  }

  function newClientId() {
    var bytes = new Uint8Array(12);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    return "c" + Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function sendText(raw, clientId, retried) {
    var text = String(raw || "").trim();
    if (!text) return;
    var max = (session && session.limits && session.limits.max_message_chars) || 2000;
    if (text.length > max) {
      showError("Messages are limited to " + max + " characters.");
      return;
    }
    showError("");
    var id = clientId || newClientId();
    var node = shownClientIds[id];
    if (!node) {
      node = el("div", { className: "cp-msg cp-from-visitor cp-pending" }, [el("span", { className: "cp-sr", text: "You: " }), richText(text)]);
      shownClientIds[id] = node;
      removeChips();
      ui.log.appendChild(node);
      scrollDown();
    }
    ui.input.value = "";
    ensureSession()
      .then(function () {
        return request("POST", "/messages", { text: text, client_id: id, page_url: location.href.slice(0, 1000), page_title: document.title.slice(0, 300) });
      })
      .then(function (data) {
        if (data.message) {
          node.classList.remove("cp-pending", "cp-failed");
          node.setAttribute("data-id", data.message.id);
          shownIds[data.message.id] = node;
        }
        if (data.conversation) applyState(data.conversation);
        if (data.__status === 202) node.classList.remove("cp-pending");
      })
      .catch(function (err) {
        if (err.status === 401 && !retried) {
          var stored = load();
          delete stored.token;
          save(stored);
          return ensureSession(true).then(function () {
            sendText(text, id, true);
          });
        }
        node.classList.remove("cp-pending");
        node.classList.add("cp-failed");
        if (err.status === 429) showError("You are sending messages too quickly. Please wait " + (err.retryAfter || 10) + " seconds.");
        else if (err.status === 413) showError(err.message);
        else showError("Your message was not sent. " + (err.message || ""));
      });
  }

  function saveContact() {
    var body = { name: ui.contactName.value.trim(), email: ui.contactEmail.value.trim() };
    ensureSession()
      .then(function () {
        return request("POST", "/session", body);
      })
      .then(function (data) {
        session.token = data.token;
        session.visitor = data.visitor;
        var stored = load();
        stored.token = data.token;
        save(stored);
        ui.contactForm.hidden = true;
        showError("");
        notice("Thanks, " + (data.visitor.name || "we'll be in touch") + "!");
        refreshChrome();
        ui.input.focus();
      })
      .catch(function (err) {
        showError(err.message || "Those details could not be saved.");
      });
  }

  function endChat() {
    ensureSession()
      .then(function () {
        return request("POST", "/end", { conversation_id: convState && convState.id });
      })
      .then(function (data) {
        applyState(data.conversation);
        var first = ui.ratingForm.querySelector(".cp-score");
        if (first && !ui.ratingForm.hidden) first.focus();
      })
      .catch(function (err) {
        showError(err.message);
      });
  }

  function sendRating(scale) {
    if (ui.ratingScore === null) {
      showError("Choose a rating first.");
      return;
    }
    request("POST", "/rating", {
      conversation_id: convState && convState.id,
      scale: scale,
      score: ui.ratingScore,
      comment: ui.ratingComment.value.trim() || null,
    })
      .then(function (data) {
        showError("");
        ui.ratingForm.hidden = true;
        if (data.conversation) convState = data.conversation;
        notice("Thanks for your feedback!");
        ui.input.focus();
      })
      .catch(function (err) {
        showError(err.message);
      });
  }

  // --- live updates: EventSource first, long polling when streams do not get through ---
  function startLive() {
    if (live.started) return;
    live.started = true;
    if (typeof window.EventSource !== "function") live.mode = "poll";
    if (live.mode === "stream") openStream();
    else poll();
    window.setInterval(watchdog, 5000);
  }

  function openStream() {
    if (live.es) live.es.close();
    var url = absolute(session.stream_url) + "&cursor=" + encodeURIComponent(cursor || "0");
    var es = new EventSource(url);
    live.es = es;
    live.openedAt = Date.now();
    live.readyAt = 0;
    live.lastBeat = Date.now();
    es.addEventListener("ready", function (event) {
      var data = parse(event.data);
      if (data && data.cursor) cursor = data.cursor;
      live.readyAt = Date.now();
      live.lastBeat = Date.now();
      live.failures = 0;
    });
    es.addEventListener("ping", function () {
      live.lastBeat = Date.now();
    });
    es.addEventListener("message", function (event) {
      live.lastBeat = Date.now();
      var m = parse(event.data);
      if (m) {
        addMessage(m);
        advanceCursor(m.id);
      }
    });
    es.addEventListener("state", function (event) {
      live.lastBeat = Date.now();
      applyState(parse(event.data));
    });
    es.addEventListener("typing", function (event) {
      var data = parse(event.data);
      setTyping(!!(data && data.typing));
    });
    es.addEventListener("error", function () {
      if (live.readyAt && es.readyState !== EventSource.CLOSED) {
        // A stream that worked has ended (the server closes them every few minutes): EventSource reconnects by
        // itself with Last-Event-ID. The next "ready" says it worked.
        live.readyAt = 0;
        live.openedAt = Date.now();
        return;
      }
      // Never got through, or refused (an expired ticket, a busy server): a new session and ticket, a little later;
      // after two failures in a row, plain long polling.
      live.failures += 1;
      es.close();
      live.es = null;
      if (live.failures >= 2) switchToPolling();
      else window.setTimeout(reconnect, Math.min(30000, 1000 * Math.pow(2, live.failures)));
    });
  }

  function reconnect() {
    if (live.mode !== "stream") return;
    ensureSession(true)
      .then(function () {
        openStream();
      })
      .catch(function () {
        window.setTimeout(reconnect, 15000);
      });
  }

  function watchdog() {
    if (live.mode !== "stream" || !live.es) return;
    var now = Date.now();
    var beat = ((session && session.heartbeat) || 15) * 1000;
    var stalled = (!live.readyAt && now - live.openedAt > 10000) || now - live.lastBeat > beat * 2.5 + 5000;
    if (stalled) {
      // Something between us buffers or drops the stream: plain requests get through where streams do not.
      live.failures += 1;
      live.es.close();
      live.es = null;
      if (live.failures >= 2) switchToPolling();
      else reconnect();
    }
  }

  function switchToPolling() {
    if (live.es) live.es.close();
    live.es = null;
    live.mode = "poll";
    poll();
  }

  // Long polls wait on the stream process; when it refuses one (429: too many from this visitor or network; 503:
  // full or not there) the script asks the web process without waiting, every few seconds, until Retry-After has
  // passed, then long-polls again. An answer with retry_ms (a server that does not wait) sets the pace.
  function poll() {
    if (live.polling) return;
    live.polling = true;
    var delay = 0;
    var shortUntil = 0;
    function loop() {
      var waiting = Date.now() >= shortUntil;
      var base = waiting ? session.long_poll_url || session.poll_url : session.poll_url;
      var query = "?after=" + encodeURIComponent(cursor || "0") + (waiting ? "&wait=25" : "");
      request("GET", base + query)
        .then(function (data) {
          delay = 0;
          (data.messages || []).forEach(addMessage);
          if (data.cursor) cursor = data.cursor;
          if (data.conversation) applyState(data.conversation);
          if (data.typing !== null && data.typing !== undefined) setTyping(!!data.typing);
          var pause = data.retry_ms || (waiting ? 0 : ((session && session.poll_seconds) || 5) * 1000);
          window.setTimeout(loop, pause);
        })
        .catch(function (err) {
          if ((err.status === 429 || err.status === 503) && waiting) {
            shortUntil = Date.now() + Math.max(10, err.retryAfter || 30) * 1000;
            window.setTimeout(loop, ((session && session.poll_seconds) || 5) * 1000);
            return;
          }
          delay = Math.min(30000, Math.max(2000, delay * 2, (err.retryAfter || 0) * 1000));
          if (err.status === 401) {
            ensureSession(true).then(
              function () { window.setTimeout(loop, 0); },
              function () { window.setTimeout(loop, delay); }
            );
            return;
          }
          window.setTimeout(loop, delay);
        });
    }
    loop();
  }

  // A cursor is "<highest message id>.<server time in ms>"; the id moves with each message, the time stays.
  function advanceCursor(id) {
    var parts = String(cursor || "0").split(".");
    var top = Math.max(parseInt(parts[0], 10) || 0, id);
    cursor = parts.length > 1 ? top + "." + parts[1] : String(top);
  }

  function parse(text) {
    try {
      return JSON.parse(text);
    } catch (e) {
      return null;
    }
  }

  // --- start ---
  function start() {
    request("GET", "/config", undefined, { token: null })
      .then(function (data) {
        config = data.config;
        build();
        if (load().token) ensureSession().catch(function () {});
      })
      .catch(function (err) {
        console.warn("ChatPad widget " + KEY + " is not available here: " + (err.message || err));
      });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
