// The Data page's upload form, with progress: the file goes up in one XMLHttpRequest whose
// upload events move a progress bar; then the node reads it (a status line says so) and the
// browser opens the preview the node answers with. A refused upload shows the node's message
// above the form and keeps what was filled in, the chosen file included.
//
// Without this script (or without JavaScript) the form posts as a plain form does and the
// browser shows its own progress. Served from the node under `script-src 'self'`; nothing
// inline, no third party.
"use strict";

(function () {
  const form = document.getElementById("upload-form");
  if (!form || typeof XMLHttpRequest === "undefined" || typeof FormData === "undefined") {
    return;
  }
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  const problem = document.getElementById("upload-problem");
  const button = form.querySelector("button[type=submit]");

  function say(text) {
    status.textContent = text;
  }

  function refuse(text) {
    bar.hidden = true;
    say("");
    problem.textContent = text;
    problem.hidden = false;
    button.disabled = false;
    problem.focus();
  }

  // The message of a page the node answered with instead of the preview: the form's problem,
  // or the page's heading and first paragraph (an error page).
  function messageOf(html) {
    const page = new DOMParser().parseFromString(html, "text/html");
    const shown = page.getElementById("problem");
    if (shown && shown.textContent.trim()) {
      return shown.textContent.trim();
    }
    const main = page.querySelector("main");
    const heading = main && main.querySelector("h1");
    const text = main && main.querySelector("p");
    const parts = [heading, text].filter(Boolean).map((e) => e.textContent.trim());
    return parts.join(": ") || "The node refused the upload.";
  }

  form.addEventListener("submit", function (event) {
    if (!form.reportValidity()) {
      return;
    }
    event.preventDefault();
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable && e.total > 0) {
        bar.max = e.total;
        bar.value = e.loaded;
        say("Uploading: " + Math.floor((100 * e.loaded) / e.total) + " %");
      }
    });
    request.upload.addEventListener("load", function () {
      // Sent: the node now reads the file, which takes a while for a large export.
      bar.removeAttribute("value");
      say("Uploaded. The node is reading the file…");
    });
    request.addEventListener("load", function () {
      const landed = new URL(request.responseURL || form.action, window.location.href);
      if (request.status === 200 && landed.pathname !== new URL(form.action, window.location.href).pathname) {
        say("Read. Opening the preview…");
        window.location.assign(landed.href);
      } else {
        refuse(messageOf(request.responseText));
      }
    });
    request.addEventListener("error", function () {
      refuse("The upload did not reach the node (the connection was lost). Check the connection and upload again.");
    });
    request.addEventListener("abort", function () {
      refuse("The upload was stopped.");
    });
    problem.hidden = true;
    button.disabled = true;
    bar.hidden = false;
    bar.value = 0;
    say("Uploading…");
    request.send(new FormData(form));
  });
})();
