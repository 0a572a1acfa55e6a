/* The deadline box (templates/includes/deadline_box.html): a live countdown whose alert level
 * follows the time left, without a reload.
 *
 * - The server's clock decides: the page carries the server's time when it was rendered, and
 *   the difference with this machine's clock is kept.
 * - The stages and their thresholds are those of the server (marches_format.DEADLINE_STAGES),
 *   read from the box's data-stages: « late:0:error minutes:600:error … open::info ».
 * - The words of each stage are in the page, one paragraph each (data-deadline-advice); this
 *   script only shows the one that applies, and announces a change of stage to screen
 *   readers (role="status"), never every second.
 * - The page hears of a change through a "deadline:stage" event on the document (the deposit
 *   page: a pli sent after the deadline replaces nothing).
 *
 * Without JavaScript the box keeps the stage and the time left of the moment it was rendered.
 */
(function () {
  "use strict";

  var LEVELS = ["info", "warning", "error"];

  function plural(n, word) {
    return n + " " + word + (n > 1 ? "s" : "");
  }

  // « Reste 3 jours et 4 heures. », « Reste 12 minutes et 5 secondes. », « La date limite est passée. »
  function left(seconds) {
    if (seconds <= 0) return "La date limite est passée.";
    var s = Math.floor(seconds);
    var days = Math.floor(s / 86400);
    var hours = Math.floor((s % 86400) / 3600);
    var minutes = Math.floor((s % 3600) / 60);
    var rest = s % 60;
    var parts;
    if (days) parts = [plural(days, "jour")].concat(hours ? [plural(hours, "heure")] : []);
    else if (hours) parts = [plural(hours, "heure")].concat(minutes ? [plural(minutes, "minute")] : []);
    else if (minutes) parts = [plural(minutes, "minute")].concat(rest ? [plural(rest, "seconde")] : []);
    else parts = [plural(rest, "seconde")];
    return "Reste " + parts.join(" et ") + ".";
  }

  function stages(text) {
    return text.trim().split(/\s+/).map(function (item) {
      var bits = item.split(":");
      return { name: bits[0], seconds: bits[1] === "" ? Infinity : Number(bits[1]), level: bits[2] };
    });
  }

  function stageFor(list, seconds) {
    for (var i = 0; i < list.length; i += 1) {
      if (seconds <= list[i].seconds) return list[i];
    }
    return list[list.length - 1];
  }

  function start(box) {
    var deadline = new Date(box.dataset.deadline).getTime();
    var offset = new Date(box.dataset.serverNow).getTime() - Date.now();
    var list = stages(box.dataset.stages);
    var counter = box.querySelector("#deadline-left");
    var announce = box.querySelector("#deadline-announce");

    function tick() {
      var seconds = (deadline - (Date.now() + offset)) / 1000;
      var stage = stageFor(list, seconds);
      counter.textContent = left(seconds);
      if (stage.name !== box.dataset.stage) {
        box.dataset.stage = stage.name;
        LEVELS.forEach(function (level) {
          box.classList.toggle("fr-alert--" + level, level === stage.level);
        });
        var advice = null;
        box.querySelectorAll("[data-deadline-advice]").forEach(function (paragraph) {
          var shown = paragraph.dataset.deadlineAdvice === stage.name;
          paragraph.hidden = !shown;
          if (shown) advice = paragraph;
        });
        if (announce && advice) announce.textContent = advice.textContent.replace(/\s+/g, " ").trim();
        document.dispatchEvent(new CustomEvent("deadline:stage", { detail: { stage: stage.name } }));
      }
      if (seconds > 0) setTimeout(tick, 1000 - ((Date.now() + offset) % 1000));
    }
    tick();
  }

  function init() {
    var box = document.getElementById("deadline-box");
    if (box) start(box);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
