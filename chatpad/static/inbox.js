/* The inbox's live updates and small helpers. No library: server-sent events when the server has a free stream,
 * polling with ETags otherwise (or when a proxy holds the stream back). Everything works without this file; it only
 * saves reloads. */
(function () {
  "use strict";

  function debounce(fn, ms) {
    var timer = null;
    return function () {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    };
  }

  function setStatus(text) {
    var el = document.getElementById("live-status");
    if (el) el.textContent = text;
  }

  /* Fetch a partial and swap it in when it changed (ETag: an unchanged partial costs a 304). The page renders the
   * partial with its ETag in data-etag, so the first refresh of an unchanged page is a 304 too. done() runs after
   * every fetch, changed or not. */
  function Refresher(container, url, after, done) {
    var etag = container.getAttribute("data-etag");
    var busy = false;
    var again = false;
    function run() {
      if (busy) { again = true; return; }
      busy = true;
      var headers = { "X-Requested-With": "fetch" };
      if (etag) headers["If-None-Match"] = '"' + etag + '"';
      fetch(url, { headers: headers, credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (response.status === 200) {
            etag = (response.headers.get("ETag") || "").replace(/^W\//, "").replace(/"/g, "") || null;
            return response.text().then(function (html) {
              var before = container.innerHTML;
              container.innerHTML = html;
              if (after) after(before);
            });
          }
        })
        .catch(function () {})
        .then(function () {
          busy = false;
          if (again) { again = false; run(); }
          else if (done) done();
        });
    }
    return debounce(run, 250);
  }

  /* Server-sent events with a polling fallback. When the stream process refuses a stream (429, 503) or a proxy holds
   * it back, the page polls, and tries a stream again every 30 s. */
  function live(url, onEvent, pollMs) {
    var polling = null;
    var source = null;
    var retry = null;

    function poll() {
      if (!polling) {
        setStatus("Updates every " + Math.round(pollMs / 1000) + " s");
        polling = setInterval(onEvent, pollMs);
      }
      if (!retry) retry = setTimeout(function () { retry = null; connect(); }, 30000);
    }

    function connect() {
      if (!window.EventSource) { poll(); return; }
      var ready = false;
      // The stream process may be another origin than the page (development: another port); the page's cookie
      // goes along only when asked for.
      var crossOrigin = false;
      try { crossOrigin = new URL(url, window.location.href).origin !== window.location.origin; } catch (err) { /* same */ }
      source = crossOrigin ? new EventSource(url, { withCredentials: true }) : new EventSource(url);
      var readyTimer = setTimeout(function () {
        if (!ready) { source.close(); poll(); }
      }, 10000);
      source.addEventListener("ready", function (e) {
        ready = true;
        clearTimeout(readyTimer);
        try { pollMs = JSON.parse(e.data).poll_ms || pollMs; } catch (err) { /* keep the default */ }
        if (polling) { clearInterval(polling); polling = null; }
        setStatus("\u25CF Live");
        // What changed before this stream subscribed (since the page was rendered, or during a reconnect) was
        // published to nobody: look once now. Unchanged, it costs a 304.
        onEvent("ready");
      });
      ["message.created", "message.updated", "conversation.updated", "note.created"].forEach(function (name) {
        source.addEventListener(name, function (e) { onEvent(name, e); });
      });
      source.addEventListener("typing", function (e) { onEvent("typing", e); });
      source.onerror = function () {
        // CLOSED: the server said no (429: too many streams of this person or address; 503: the stream process is
        // full or not reachable); CONNECTING: EventSource retries by itself.
        if (source.readyState === EventSource.CLOSED) { clearTimeout(readyTimer); poll(); }
        else setStatus("Reconnecting\u2026");
      };
    }

    // Leaving the page closes the stream at once, so the server frees its slot at the next heartbeat.
    window.addEventListener("pagehide", function () { if (source) source.close(); });
    connect();
  }

  /* Changing the location empties the account filter before the form goes (chatpad/static/admin.js sends forms
   * whose fields carry data-autosubmit; this listener on the field runs before that one on the document). */
  function clearAccountOnLocationChange() {
    var form = document.getElementById("inbox-filters");
    if (!form) return;
    var location = form.querySelector("[name=location]");
    var account = form.querySelector("[name=account]");
    if (!location || !account) return;
    location.addEventListener("change", function () { account.value = ""; });
  }

  function pollInterval(el) {
    return parseInt(el.getAttribute("data-poll-ms"), 10) || 10000;
  }

  /* Ticked rows for the bulk form survive the list's live refresh (the rows' HTML is swapped). */
  var ticked = {};
  function restoreTicks() {
    document.querySelectorAll(".bulk-tick").forEach(function (box) { box.checked = !!ticked[box.value]; });
    var count = document.getElementById("bulk-count");
    var n = Object.keys(ticked).length;
    if (count) count.textContent = n ? n + " ticked" : "Tick conversations to act on several at once.";
  }
  function bulkForm() {
    var form = document.getElementById("bulk-form");
    if (!form) return;
    document.addEventListener("change", function (e) {
      if (!e.target.classList || !e.target.classList.contains("bulk-tick")) return;
      if (e.target.checked) ticked[e.target.value] = true; else delete ticked[e.target.value];
      restoreTicks();
    });
    var action = document.getElementById("bulk-action");
    function fields() {
      document.getElementById("bulk-user").hidden = action.value !== "assign";
      document.getElementById("bulk-label").hidden = action.value !== "label";
    }
    action.addEventListener("change", fields);
    fields();
    form.addEventListener("submit", function (e) {
      // Ticks of rows the refresh took away still go: they are hidden fields here.
      form.querySelectorAll("input.bulk-kept").forEach(function (el) { el.remove(); });
      Object.keys(ticked).forEach(function (id) {
        if (document.querySelector('.bulk-tick[value="' + id + '"]')) return;
        var keep = document.createElement("input");
        keep.type = "hidden"; keep.name = "ids"; keep.value = id; keep.className = "bulk-kept";
        form.appendChild(keep);
      });
      if (!Object.keys(ticked).length) { e.preventDefault(); restoreTicks(); }
    });
  }

  function inboxList() {
    var rows = document.getElementById("inbox-rows");
    if (!rows || rows.getAttribute("data-live") !== "1") return;
    var refresh = Refresher(rows, rows.getAttribute("data-partial-url"), function (before) {
      restoreTicks();
      if (before === rows.innerHTML) return;
      var first = rows.querySelector(".inbox-row");
      if (first) first.classList.add("fresh");
    });
    live(rows.getAttribute("data-live-url"), function (name) {
      if (name !== "typing") refresh();
    }, pollInterval(rows));
  }

  function scrollToEnd(el) { el.scrollTop = el.scrollHeight; }

  function conversationPage() {
    var thread = document.getElementById("thread");
    if (!thread) return;
    scrollToEnd(thread);
    var typing = document.getElementById("typing");
    // While a message on the page is on its way (Sending…), look again soon whatever the stream or the slow poll
    // does: a lost event must not leave it looking stuck, and people resend what looks stuck. The wait doubles
    // while nothing changes (a message held for a reconnection stays pending for hours) and starts over on a change.
    var IN_FLIGHT = '.msg[data-status="pending"], .msg[data-status="sending"]';
    var soon = null;
    var wait = 1500;
    function watchInFlight() {
      clearTimeout(soon);
      soon = null;
      if (!thread.querySelector(IN_FLIGHT) || wait > 30000) return;
      soon = setTimeout(refresh, wait);
      wait *= 2;
    }
    var refresh = Refresher(thread, thread.getAttribute("data-thread-url"), function (before) {
      if (before !== thread.innerHTML) { scrollToEnd(thread); wait = 1500; }
    }, watchInFlight);
    watchInFlight();
    live(thread.getAttribute("data-live-url"), function (name, e) {
      if (name === "typing" && e) {
        try { typing.hidden = !JSON.parse(e.data).started; } catch (err) { typing.hidden = true; }
        return;
      }
      if (name === "message.created" && typing) typing.hidden = true;
      refresh();
    }, pollInterval(thread));
  }

  function utf8Length(text) {
    return new Blob([text]).size;
  }

  // SMS segments, as chatpad/channels/sms/segments.py counts them: GSM-7 (160, or 153 per part; ^{}\\[~]|€ take two)
  // unless any character is outside it, then UCS-2 (70, or 67 per part; emoji take two units). A character is never
  // cut between two parts.
  var GSM7 = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u001bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var GSM7_EXT = "^{}\\[~]|€\f";

  function smsSegments(text) {
    var chars = Array.from(text);
    var gsm = chars.every(function (c) { return GSM7.indexOf(c) >= 0 || GSM7_EXT.indexOf(c) >= 0; });
    var sizes = chars.map(function (c) {
      if (gsm) return GSM7_EXT.indexOf(c) >= 0 ? 2 : 1;
      return c.codePointAt(0) > 0xffff ? 2 : 1;
    });
    var single = gsm ? 160 : 70, multi = gsm ? 153 : 67;
    var units = sizes.reduce(function (a, b) { return a + b; }, 0);
    var segments = 1;
    if (units > single) {
      var used = 0;
      sizes.forEach(function (size) {
        if (used + size > multi) { segments += 1; used = 0; }
        used += size;
      });
    }
    return {segments: segments, encoding: gsm ? "GSM-7" : "UCS-2"};
  }
  window.chatpadSmsSegments = smsSegments;

  function replyCounter() {
    var box = document.getElementById("reply-text");
    if (!box || !box.getAttribute("data-limit")) return;
    var limit = parseInt(box.getAttribute("data-limit"), 10);
    var unit = box.getAttribute("data-unit") || "characters";
    var counter = document.createElement("small");
    counter.className = "reply-counter d-block text-right text-muted";
    counter.setAttribute("aria-live", "polite");
    box.parentNode.insertBefore(counter, box.nextSibling);
    function update() {
      var n = unit === "bytes" ? utf8Length(box.value) : Array.from(box.value).length;
      var parts = Math.max(1, Math.ceil(n / limit));
      var text = n + " / " + limit + " " + unit + (parts > 1 ? " \u2014 goes out as " + parts + " messages" : "");
      if (box.getAttribute("data-segments")) {
        var count = smsSegments(box.value);
        text += " \u00b7 " + count.segments + " segment" + (count.segments === 1 ? "" : "s") + " (" + count.encoding + ")";
        if (count.encoding === "UCS-2") text += ": a character outside GSM-7 makes each segment 70 characters";
      }
      counter.textContent = text;
      counter.classList.toggle("over", n > limit);
    }
    box.addEventListener("input", update);
    update();
  }

  function preventDoubleSend() {
    var form = document.getElementById("reply-form");
    if (!form) return;
    form.addEventListener("submit", function () {
      var button = document.getElementById("send-button");
      if (button) { button.disabled = true; button.textContent = "Sending\u2026"; }
    });
  }

  /* Canned replies: "/" typed at the start of the reply box or after a space opens the picker (the server filled
   * the variables and shaped each reply to the channel); Enter or a click inserts one in place of the "/", Esc
   * closes it and keeps the "/". */
  function cannedPicker() {
    var box = document.getElementById("reply-text");
    var picker = document.getElementById("canned-picker");
    if (!box || !picker) return;
    var filter = document.getElementById("canned-filter");
    var button = document.getElementById("canned-button");
    var slashAt = -1;
    function choices() {
      return Array.prototype.slice.call(picker.querySelectorAll(".canned-choice[data-text]")).filter(function (li) {
        return !li.hidden;
      });
    }
    function open(at) {
      if (box.disabled) return;
      slashAt = at;
      picker.hidden = false;
      filter.value = "";
      applyFilter();
      filter.focus();
    }
    function close() {
      picker.hidden = true;
      slashAt = -1;
      box.focus();
    }
    function applyFilter() {
      var q = filter.value.toLowerCase();
      picker.querySelectorAll(".canned-choice").forEach(function (li) {
        li.hidden = q && li.getAttribute("data-title").indexOf(q) < 0 && li.textContent.toLowerCase().indexOf(q) < 0;
      });
    }
    function insert(li) {
      var text = li.getAttribute("data-text");
      var value = box.value;
      var start = slashAt >= 0 && value.charAt(slashAt) === "/" ? slashAt : box.selectionStart;
      var end = slashAt >= 0 && value.charAt(slashAt) === "/" ? slashAt + 1 : box.selectionEnd;
      box.value = value.slice(0, start) + text + value.slice(end);
      picker.hidden = true;
      slashAt = -1;
      box.focus();
      box.selectionStart = box.selectionEnd = start + text.length;
      box.dispatchEvent(new Event("input"));
    }
    box.addEventListener("input", function (e) {
      if (e.inputType !== "insertText" || e.data !== "/") return;
      var at = box.selectionStart - 1;
      if (at === 0 || /\s/.test(box.value.charAt(at - 1))) open(at);
    });
    if (button) button.addEventListener("click", function () { open(-1); });
    filter.addEventListener("input", applyFilter);
    filter.addEventListener("keydown", function (e) {
      if (e.key === "Escape") { e.preventDefault(); close(); }
      else if (e.key === "Enter") { e.preventDefault(); var first = choices()[0]; if (first) insert(first); }
      else if (e.key === "ArrowDown") { e.preventDefault(); var c = choices()[0]; if (c) c.focus(); }
    });
    picker.addEventListener("click", function (e) {
      var li = e.target.closest(".canned-choice[data-text]");
      if (li) insert(li);
    });
    picker.addEventListener("keydown", function (e) {
      var li = e.target.closest(".canned-choice[data-text]");
      if (!li) return;
      var list = choices();
      var i = list.indexOf(li);
      if (e.key === "Enter") { e.preventDefault(); insert(li); }
      else if (e.key === "Escape") { e.preventDefault(); close(); }
      else if (e.key === "ArrowDown" && list[i + 1]) { e.preventDefault(); list[i + 1].focus(); }
      else if (e.key === "ArrowUp") { e.preventDefault(); (list[i - 1] || filter).focus(); }
    });
    window.chatpadOpenCanned = function () { open(-1); };
  }

  /* Keyboard (issue 21): Ctrl/Cmd+Enter sends; j/k move through the list; e resolves; a assigns; / opens canned
   * replies (in the list: the search box); ? shows the shortcuts. None but Ctrl+Enter while typing in a field. */
  var SHORTCUTS = [
    ["Ctrl/\u2318 + Enter", "Send the reply"],
    ["j / k", "Next / previous conversation in the list (Enter opens it)"],
    ["e", "Resolve (the conversation, or the list's current row)"],
    ["a", "Assign (the conversation, or the list's current row)"],
    ["/", "Canned replies (in the list: search)"],
    ["?", "Show or hide these shortcuts"],
  ];
  function shortcutHelp() {
    var box = document.getElementById("shortcut-help");
    if (box) { box.hidden = !box.hidden; return; }
    box = document.createElement("div");
    box.id = "shortcut-help";
    box.className = "shortcut-help card p-3";
    box.setAttribute("role", "dialog");
    box.setAttribute("aria-label", "Keyboard shortcuts");
    var title = document.createElement("h5");
    title.className = "h6";
    title.textContent = "Keyboard shortcuts (Esc or ? closes)";
    box.appendChild(title);
    var list = document.createElement("dl");
    list.className = "mb-0";
    SHORTCUTS.forEach(function (row) {
      var dt = document.createElement("dt"); dt.textContent = row[0];
      var dd = document.createElement("dd"); dd.textContent = row[1];
      list.appendChild(dt); list.appendChild(dd);
    });
    box.appendChild(list);
    document.body.appendChild(box);
  }
  function typing(target) {
    if (!target || !target.tagName) return false;
    var tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }
  function currentRow() {
    return document.querySelector(".inbox-row.kb-current");
  }
  function moveRow(step) {
    var rows = Array.prototype.slice.call(document.querySelectorAll(".inbox-row"));
    if (!rows.length) return;
    var at = rows.indexOf(currentRow());
    var next = rows[Math.min(rows.length - 1, Math.max(0, at < 0 ? 0 : at + step))];
    rows.forEach(function (r) { r.classList.remove("kb-current"); });
    next.classList.add("kb-current");
    var link = next.querySelector(".inbox-name");
    if (link) link.focus();
  }
  function bulkOnCurrent(action) {
    var row = currentRow();
    var form = document.getElementById("bulk-form");
    if (!row || !form) return false;
    var id = row.getAttribute("data-conversation");
    Object.keys(ticked).forEach(function (k) { delete ticked[k]; });
    ticked[id] = true;
    restoreTicks();
    var select = document.getElementById("bulk-action");
    select.value = action;
    select.dispatchEvent(new Event("change"));
    if (action === "resolve") form.requestSubmit ? form.requestSubmit() : form.submit();
    else document.getElementById(action === "assign" ? "bulk-user" : "bulk-label").focus();
    return true;
  }
  function keyboard() {
    document.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && e.target && e.target.id === "reply-text") {
        var form = document.getElementById("reply-form");
        if (form && !e.target.disabled) { e.preventDefault(); form.requestSubmit ? form.requestSubmit() : form.submit(); }
        return;
      }
      if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
      var help = document.getElementById("shortcut-help");
      if (e.key === "Escape" && help && !help.hidden) { help.hidden = true; return; }
      var onList = !!document.getElementById("inbox-rows");
      var handled = true;
      if (e.key === "?") shortcutHelp();
      else if (onList && (e.key === "j" || e.key === "k")) moveRow(e.key === "j" ? 1 : -1);
      else if (e.key === "e") {
        if (onList) handled = bulkOnCurrent("resolve");
        else { var resolve = document.getElementById("resolve"); if (resolve) resolve.click(); else handled = false; }
      } else if (e.key === "a") {
        if (onList) handled = bulkOnCurrent("assign");
        else { var assign = document.getElementById("assign-user"); if (assign) assign.focus(); else handled = false; }
      } else if (e.key === "/") {
        var box = document.getElementById("reply-text");
        if (box && window.chatpadOpenCanned) window.chatpadOpenCanned();
        else { var q = document.getElementById("f-q"); if (q) q.focus(); else handled = false; }
      } else handled = false;
      if (handled) e.preventDefault();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    clearAccountOnLocationChange();
    bulkForm();
    inboxList();
    conversationPage();
    replyCounter();
    preventDoubleSend();
    cannedPicker();
    keyboard();
  });
})();
