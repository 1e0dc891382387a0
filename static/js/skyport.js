// Skyport: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";

  // <form data-confirm="…"> asks before submitting; a confirmed form sends confirm=yes so the
  // server skips its own (no-JavaScript) confirmation page.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.dataset.confirm) return;
    if (!window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      return;
    }
    var input = form.querySelector("input[name=confirm]");
    if (input) input.value = "yes";
  }, true);

  // Drop empty query parameters from htmx GETs so pushed URLs stay clean (/?q=lamp, not /?q=lamp&os_family=…).
  document.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.verb !== "get" || !event.detail.formData) return;
    var data = event.detail.formData;
    Array.from(data.keys()).forEach(function (key) {
      if (data.getAll(key).every(function (v) { return v === ""; })) data.delete(key);
    });
  });

  // Keep a console box scrolled to the newest line when it was at the bottom before a swap.
  var pinned = {};
  document.addEventListener("htmx:beforeSwap", function () {
    document.querySelectorAll("pre.console[id]").forEach(function (pre) {
      pinned[pre.id] = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
    });
  });
  function follow(root) {
    (root || document).querySelectorAll("pre.console[id]").forEach(function (pre) {
      if (pinned[pre.id] !== false) pre.scrollTop = pre.scrollHeight;
    });
  }
  document.addEventListener("htmx:afterSettle", function () { follow(document); });
  document.addEventListener("DOMContentLoaded", function () { follow(document); });

  // User data byte counter.
  function countBytes(area) {
    var out = document.getElementById(area.dataset.counter);
    if (!out) return;
    var bytes = new TextEncoder().encode(area.value).length;
    var limit = parseInt(area.dataset.limit, 10);
    out.textContent = bytes + " / " + limit + " bytes";
    out.classList.toggle("row-error", bytes > limit);
  }
  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("textarea[data-counter]")) countBytes(event.target);
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("textarea[data-counter]").forEach(countBytes);
  });

  // Remove a security-group rule row; copy text to the clipboard.
  document.addEventListener("click", function (event) {
    var remove = event.target.closest && event.target.closest("[data-remove-row]");
    if (remove) {
      event.preventDefault();
      var row = remove.closest("tr");
      var next = row && (row.nextElementSibling || row.previousElementSibling);
      if (row) row.remove();
      var focusTarget = next && next.querySelector("select, input");
      (focusTarget || document.getElementById("add-rule")).focus();
      return;
    }
    var once = event.target.closest && event.target.closest("a[data-download-once]");
    if (once) {
      // The server forgets the key as it sends it: say so instead of leaving a dead link.
      setTimeout(function () {
        var done = document.createElement("span");
        done.className = "badge badge-green";
        done.setAttribute("role", "status");
        done.textContent = "Downloaded — Skyport no longer has this key";
        once.replaceWith(done);
      }, 400);
      return;
    }
    var copy = event.target.closest && event.target.closest("[data-copy]");
    if (!copy) return;
    var source = document.getElementById(copy.dataset.copy);
    if (!source) return;
    var label = copy.dataset.label || copy.textContent;
    copy.dataset.label = label;
    function say(text) {
      copy.textContent = text;
      setTimeout(function () { copy.textContent = label; }, 2000);
    }
    // Fallback where the Clipboard API is missing (plain http on a non-local address) or refused:
    // select the text so Ctrl+C / Cmd+C copies it, and say so instead of doing nothing.
    function selectSource() {
      var range = document.createRange();
      range.selectNodeContents(source);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      say("Selected: press Ctrl+C");
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(source.textContent.trim()).then(function () { say("Copied"); }, selectSource);
    } else {
      selectSource();
    }
  });

  // After a refused submit, take keyboard and screen-reader focus to the summary of what to fix.
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.getElementById("form-errors");
    if (summary) summary.focus();
  });
})();
