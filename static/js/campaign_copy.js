// Copy buttons: <button data-copy-target="input-id" data-copied-text="Copied">.
"use strict";
document.querySelectorAll("[data-copy-target]").forEach((button) => {
  button.addEventListener("click", async () => {
    const input = document.getElementById(button.dataset.copyTarget);
    const original = button.textContent;
    try {
      await navigator.clipboard.writeText(input.value);
    } catch {
      // Without clipboard permission (plain http), selecting lets the user press Ctrl+C.
      input.select();
      document.execCommand("copy");
    }
    button.textContent = button.dataset.copiedText || original;
    setTimeout(() => { button.textContent = original; }, 2000);
  });
});
