// Call page: the transcript follows the player; a turn, a finding or an evidence time seeks the player there.
(function () {
  "use strict";
  var player = document.getElementById("player");
  if (!player) { return; }
  var turns = Array.prototype.slice.call(document.querySelectorAll(".turn"));
  function seek(t) {
    player.currentTime = t;
    var p = player.play();
    if (p && p.catch) { p.catch(function () {}); }
  }
  turns.forEach(function (el) {
    el.addEventListener("click", function () { seek(parseFloat(el.dataset.start)); });
  });
  document.querySelectorAll(".seek").forEach(function (b) {
    b.addEventListener("click", function () { seek(parseFloat(b.dataset.start)); });
  });
  var current = null;
  player.addEventListener("timeupdate", function () {
    var t = player.currentTime, found = null;
    for (var i = 0; i < turns.length; i++) {
      var s = parseFloat(turns[i].dataset.start), e = parseFloat(turns[i].dataset.end);
      if (t >= s && t <= e) { found = turns[i]; break; }
    }
    if (found !== current) {
      if (current) { current.classList.remove("current"); }
      if (found) { found.classList.add("current"); found.scrollIntoView({block: "nearest"}); }
      current = found;
    }
  });
})();
