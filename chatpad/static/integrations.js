/*
 * The Integrations page at scale (templates/integrations/index.html): search, a location and a health filter,
 * collapsible sections, and location changes and on/off toggles made in place (fetch POST with the form's CSRF
 * token, a JSON answer) with an Undo, so the page neither reloads nor loses its scroll position. Without script the
 * forms still post and redirect.
 */
(function () {
  "use strict";

  var rows = Array.prototype.slice.call(document.querySelectorAll(".account-row"));
  var sections = Array.prototype.slice.call(document.querySelectorAll("details.integration-section"));
  var search = document.getElementById("account-search");
  var locationFilter = document.getElementById("location-filter");
  var healthFilter = document.getElementById("health-filter");
  var shown = document.getElementById("shown-count");
  var none = document.getElementById("no-matches");
  var toast = document.getElementById("inplace-toast");
  var undoButton = document.getElementById("undo-change");
  var pendingUndo = null;
  if (!search) return;

  function applyFilters() {
    var words = search.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    var loc = locationFilter.value;
    var health = healthFilter.value;
    var filtering = words.length || loc || health;
    var visible = 0;
    rows.forEach(function (row) {
      var text = row.getAttribute("data-search") || "";
      var ok = words.every(function (w) { return text.indexOf(w) !== -1; }) &&
        (!loc || row.getAttribute("data-location") === loc) &&
        (!health || row.getAttribute("data-health") === health);
      row.classList.toggle("d-none", !ok);
      if (ok) visible += 1;
    });
    sections.forEach(function (section) {
      var any = section.querySelector(".account-row:not(.d-none)");
      // While filtering, a section with no match is hidden and one with matches is opened.
      section.classList.toggle("d-none", Boolean(filtering) && !any);
      if (filtering && any) section.open = true;
    });
    shown.textContent = filtering ? visible + " of " + rows.length + " shown" : "";
    if (none) none.classList.toggle("d-none", !filtering || visible > 0);
  }

  [search, locationFilter, healthFilter].forEach(function (field) {
    field.addEventListener("input", applyFilters);
    field.addEventListener("change", applyFilters);
  });
  document.getElementById("collapse-all").addEventListener("click", function () {
    sections.forEach(function (s) { s.open = false; });
  });
  document.getElementById("expand-all").addEventListener("click", function () {
    sections.forEach(function (s) { s.open = true; });
  });

  function say(text, kind, undo) {
    toast.querySelector(".toast-text").textContent = text;
    toast.classList.remove("d-none", "alert-success", "alert-danger");
    toast.classList.add(kind === "error" ? "alert-danger" : "alert-success");
    pendingUndo = undo || null;
    undoButton.classList.toggle("d-none", !undo);
  }

  function post(form, data) {
    var body = new URLSearchParams();
    body.set("csrf_token", form.querySelector("input[name=csrf_token]").value);
    Object.keys(data).forEach(function (k) { body.set(k, data[k]); });
    return fetch(form.action, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "Accept": "application/json" },
    }).then(function (response) {
      return response.json().catch(function () {
        return { ok: false, error: "ChatPad answered " + response.status + "; nothing was changed. Reload the page." };
      });
    }, function () {
      return { ok: false, error: "ChatPad could not be reached; nothing was changed." };
    });
  }

  function showLocation(form, value, label) {
    var select = form.querySelector("select[name=location]");
    select.value = value;
    select.setAttribute("data-current", value);
    var row = form.closest(".account-row");
    row.setAttribute("data-location", value || "general");
    var text = row.getAttribute("data-search") || "";
    row.setAttribute("data-search", text + " " + label.toLowerCase());
  }

  function changeLocation(form, value) {
    var select = form.querySelector("select[name=location]");
    select.disabled = true;
    return post(form, { location: value }).then(function (answer) {
      select.disabled = false;
      if (!answer.ok) {
        select.value = select.getAttribute("data-current") || "";
        say(answer.error, "error");
        return;
      }
      showLocation(form, answer.location, answer.location_label);
      return answer;
    });
  }

  function showActive(form, active, health) {
    var row = form.closest(".account-row");
    var box = form.querySelector("input[type=checkbox]");
    box.checked = active;
    form.querySelector("input[name=active]").value = active ? "0" : "1";
    form.querySelector(".custom-control-label").textContent = active ? "Active" : "Paused";
    row.setAttribute("data-health", health);
    var dot = row.querySelector(".account-health .status-dot");
    var label = row.querySelector(".account-health .health-label");
    if (row.getAttribute("data-status") === "connected") {
      dot.className = "status-dot status-" + (active ? "ok" : "off");
      label.textContent = active ? "Connected" : "Paused";
    }
  }

  function setActive(form, value) {
    var box = form.querySelector("input[type=checkbox]");
    box.disabled = true;
    return post(form, { active: value }).then(function (answer) {
      box.disabled = false;
      if (!answer.ok) {
        box.checked = form.querySelector("input[name=active]").value === "0";
        say(answer.error, "error");
        return;
      }
      showActive(form, answer.active, answer.health);
      return answer;
    });
  }

  document.querySelectorAll("form[data-inplace=location] select[name=location]").forEach(function (select) {
    select.setAttribute("data-current", select.value);
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-inplace") || !window.fetch) return;
    event.preventDefault();
    if (form.getAttribute("data-inplace") === "location") {
      var value = form.querySelector("select[name=location]").value;
      changeLocation(form, value).then(function (answer) {
        if (answer) {
          say(answer.message, "success", function () {
            return changeLocation(form, answer.undo).then(function (back) {
              if (back) say("Undone: " + back.message, "success");
            });
          });
        }
      });
    } else {
      var active = form.querySelector("input[name=active]").value;
      setActive(form, active).then(function (answer) {
        if (answer) {
          say(answer.message, "success", function () {
            return setActive(form, answer.undo).then(function (back) {
              if (back) say("Undone: " + back.message, "success");
            });
          });
        }
      });
    }
  });

  undoButton.addEventListener("click", function () {
    if (pendingUndo) {
      var undo = pendingUndo;
      pendingUndo = null;
      undoButton.classList.add("d-none");
      undo();
    }
  });

  applyFilters();
})();
