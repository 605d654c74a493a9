/*
 * Behaviour that would otherwise need inline event handlers, which the Content-Security-Policy refuses
 * (chatpad/security.py). Loaded on every admin page. Markup opts in with data attributes:
 *
 *   data-confirm="Question?"   on a form, a submit button or a link: ask first; "Cancel" stops it.
 *   data-autosubmit            on a select, checkbox or input: send its form when the value changes.
 *   data-model-action="name"   Flask-Admin's "With selected" menu items (templates/admin/actions.html).
 *   data-prevent-default       a link that only triggers script (Flask-Admin's filter menu).
 *   data-fallback-text="…"     on an image: replace it with this text if it fails to load (an expired story).
 *
 * Links with javascript: URLs (Flask-Admin uses javascript:void(0) for inert tabs and toggles) would be refused by
 * the policy when clicked; their default action is cancelled here instead, which is what they meant. Clicks are
 * handled in the capture phase, before any handler on the element can stop them.
 */
(function () {
  "use strict";

  function ask(element) {
    var question = element.getAttribute("data-confirm");
    return !question || window.confirm(question);
  }

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) return;

    var confirmable = target.closest("[data-confirm]");
    if (confirmable && confirmable.tagName !== "FORM" && !ask(confirmable)) {
      event.preventDefault();
      event.stopImmediatePropagation();
      return;
    }
    if (confirmable && confirmable.tagName !== "FORM" && confirmable.form) {
      // Asked already: the form's own data-confirm must not ask a second time.
      confirmable.form.setAttribute("data-confirmed", "1");
    }

    var action = target.closest("[data-model-action]");
    if (action) {
      event.preventDefault();
      if (window.modelActions) window.modelActions.execute(action.getAttribute("data-model-action"));
      return;
    }

    var inert = target.closest("a[href^='javascript:'], a[data-prevent-default]");
    if (inert) event.preventDefault();
  }, true); // capture: some of Flask-Admin's handlers stop the click before it would bubble up to the document

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-confirm")) return;
    if (form.getAttribute("data-confirmed") === "1") {
      form.removeAttribute("data-confirmed");
      return;
    }
    if (!ask(form)) event.preventDefault();
  });

  function fallBack(img) {
    img.replaceWith(document.createTextNode(img.getAttribute("data-fallback-text")));
  }

  // Load errors do not bubble, but they can be caught on the way down.
  document.addEventListener("error", function (event) {
    var img = event.target;
    if (img instanceof HTMLImageElement && img.hasAttribute("data-fallback-text")) fallBack(img);
  }, true);

  // Images that failed before this script ran.
  function sweepBrokenImages() {
    document.querySelectorAll("img[data-fallback-text]").forEach(function (img) {
      if (img.complete && img.naturalWidth === 0 && img.getAttribute("src")) fallBack(img);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", sweepBrokenImages);
  else sweepBrokenImages();

  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field instanceof Element && field.hasAttribute("data-autosubmit") && field.form) {
      if (typeof field.form.requestSubmit === "function") field.form.requestSubmit();
      else field.form.submit();
    }
  });
})();
