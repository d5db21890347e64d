// The review page's filter: plain JavaScript, no network. The rows' text comes from a JSON block
// (parsed, never evaluated); rows are only shown or hidden, never rebuilt from strings.
"use strict";
(function () {
  const entries = JSON.parse(document.getElementById("review-data").textContent);
  const rows = Array.from(document.querySelectorAll("tr.row"));
  const search = document.getElementById("search");
  const action = document.getElementById("action-filter");
  const status = document.getElementById("status-filter");
  const shown = document.getElementById("shown");
  const nothing = document.getElementById("nothing");

  function apply() {
    const terms = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    let visible = 0;
    rows.forEach(function (row) {
      const entry = entries[Number(row.dataset.index)];
      const match = (!action.value || entry.action === action.value)
        && (!status.value || entry.status === status.value)
        && terms.every(function (term) { return entry.text.includes(term); });
      row.hidden = !match;
      if (match) { visible += 1; }
    });
    shown.textContent = visible + " of " + rows.length + " rows";
    nothing.hidden = visible !== 0;
  }

  document.querySelectorAll(".swatch").forEach(function (swatch) {
    swatch.style.backgroundColor = swatch.dataset.colour;   // CSSOM: refuses anything not a colour
  });
  document.getElementById("filters").addEventListener("submit", function (event) { event.preventDefault(); });
  [search, action, status].forEach(function (control) {
    control.addEventListener("input", apply);
    control.addEventListener("change", apply);
  });
  apply();
})();
