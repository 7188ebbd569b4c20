// Small helpers for the pages: keyboard moves in the inbox, select-all, confirm nothing else.
(function () {
  "use strict";
  var table = document.querySelector("table[data-keynav]");
  var rows = table ? Array.prototype.slice.call(table.querySelectorAll("tbody tr")) : [];
  var current = -1;

  function focusRow(index) {
    if (!rows.length) return;
    if (current >= 0) rows[current].classList.remove("focus");
    current = Math.max(0, Math.min(rows.length - 1, index));
    rows[current].classList.add("focus");
    rows[current].scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("keydown", function (event) {
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (event.key === "/") {
      var search = document.getElementById("inbox-search");
      if (search) { event.preventDefault(); search.focus(); search.select(); }
    } else if (event.key === "j") {
      focusRow(current + 1);
    } else if (event.key === "k") {
      focusRow(current - 1);
    } else if (event.key === "Enter" && current >= 0) {
      window.location.href = rows[current].getAttribute("data-href");
    } else if (event.key === "x" && current >= 0) {
      var box = rows[current].querySelector("input[name=task_ids]");
      if (box) { box.checked = !box.checked; }
    } else if (/^[1-9]$/.test(event.key)) {
      var tab = document.querySelector('.tabs a[data-key="' + event.key + '"]');
      if (tab) { window.location.href = tab.getAttribute("href"); }
    }
  });

  var all = document.querySelector("[data-select-all]");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll("input[name=task_ids]").forEach(function (box) { box.checked = all.checked; });
    });
  }
})();
