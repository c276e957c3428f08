// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  // An error summary takes the focus, so a screen reader announces it and a keyboard user starts there.
  var summary = document.querySelector("[data-focus]");
  if (summary) { summary.focus(); }
  // Error summary links move the focus to the input itself, not only the scroll position.
  document.querySelectorAll(".error-summary a[href^='#']").forEach(function (link) {
    link.addEventListener("click", function (event) {
      var input = document.getElementById(link.getAttribute("href").slice(1));
      if (input) { event.preventDefault(); input.focus(); input.scrollIntoView({ block: "center" }); }
    });
  });
  // A case being decided: ask for its state every few seconds and reload once it changes, telling
  // the visitor through the live region first. Stops after ten minutes; the reload link stays.
  var live = document.querySelector("[data-status-url]");
  if (live) {
    var url = live.getAttribute("data-status-url"), state = live.getAttribute("data-state"), tries = 0;
    var poll = function () {
      if (++tries > 120) { return; }
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/plain" } })
        .then(function (r) { return r.ok ? r.text() : state; })
        .then(function (now) {
          if (now.trim() !== state) { live.textContent = "办理状态已更新，正在刷新页面……"; window.location.reload(); }
          else { setTimeout(poll, 5000); }
        })
        .catch(function () { setTimeout(poll, 10000); });
    };
    setTimeout(poll, 3000);
  }
  // Upload progress for large files over a slow connection.
  var upload = document.querySelector("form[data-upload]");
  if (upload && window.XMLHttpRequest && window.FormData) {
    upload.addEventListener("submit", function (event) {
      var progress = upload.querySelector("progress"), note = upload.querySelector("[data-upload-status]");
      if (!progress) { return; }
      event.preventDefault();
      var request = new XMLHttpRequest();
      request.open("POST", upload.action);
      request.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) { progress.hidden = false; progress.value = Math.round(100 * e.loaded / e.total); note.textContent = "已上传 " + progress.value + "%"; }
      });
      request.addEventListener("load", function () {
        if (request.status < 400 && request.responseURL) { window.location.assign(request.responseURL); return; }
        // A refusal comes back as the page with its error summary: show it as the browser would.
        document.open(); document.write(request.responseText); document.close();
      });
      request.addEventListener("error", function () { note.textContent = "上传中断，请检查网络后重试。已上传的文件不会丢失。"; });
      request.send(new FormData(upload));
    });
  }
})();
