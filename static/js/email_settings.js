// Email Service page: provider presets fill the server fields; the plaintext
// confirmation shows only for security "None"; the password or the OAuth fields show by
// the chosen authentication. Without JavaScript, "Apply" does the same.
(function () {
  "use strict";
  var form = document.getElementById("email-settings-form");
  if (!form) { return; }
  var preset = form.elements.namedItem("preset");
  var presets = JSON.parse(preset.getAttribute("data-presets") || "{}");
  var note = document.getElementById("preset-note");
  var confirmation = document.getElementById("plaintext-confirmation");

  function setSecurity(value) {
    setChoice("security", value);
    showConfirmation();
  }

  function setChoice(name, value) {
    form.querySelectorAll("input[name=" + name + "]").forEach(function (radio) {
      radio.checked = radio.value === value;
    });
  }

  function showAuthentication() {
    var chosen = form.querySelector("input[name=auth_method]:checked");
    var method = chosen ? chosen.value : "password";
    document.getElementById("password-fields").classList.toggle("d-none", method !== "password");
    document.getElementById("oauth-fields").classList.toggle("d-none", method === "password");
    form.querySelectorAll("[data-provider]").forEach(function (part) {
      part.classList.toggle("d-none", part.getAttribute("data-provider") !== method);
    });
  }

  function showConfirmation() {
    var chosen = form.querySelector("input[name=security]:checked");
    confirmation.classList.toggle("d-none", !chosen || chosen.value !== "none");
  }

  preset.addEventListener("change", function () {
    var chosen = presets[preset.value];
    note.classList.toggle("d-none", !chosen);
    note.textContent = chosen ? chosen.note : "";
    if (!chosen) { return; }
    ["smtp_host", "smtp_port", "max_connections", "max_per_minute"].forEach(function (name) {
      form.elements.namedItem(name).value = chosen[name];
    });
    setSecurity(chosen.security);
    setChoice("auth_method", chosen.auth_method);
    showAuthentication();
  });
  form.querySelectorAll("input[name=auth_method]").forEach(function (radio) {
    radio.addEventListener("change", showAuthentication);
  });
  form.querySelectorAll("input[name=security]").forEach(function (radio) {
    radio.addEventListener("change", showConfirmation);
  });
  // With the script running, choosing a preset applies it: the button is not needed.
  var applyColumn = document.getElementById("apply-preset-column");
  if (applyColumn) { applyColumn.classList.add("d-none"); }
})();
