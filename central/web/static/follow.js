// The phone page's live updates (server-sent events), the reminder and the alert once called.
// Without this file the page still works: it reloads itself every 30 seconds (a <noscript> refresh).
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.EventSource) return;
  var ahead = live.getAttribute("data-ahead"), st = live.getAttribute("data-st");
  var store = "pp-remind-" + live.getAttribute("data-key");
  var want = null, told = false, audio = null;
  try { want = parseInt(localStorage.getItem(store) || "", 10) || null; } catch (e) { /* private mode */ }
  var note = document.querySelector(".js-only");
  if (note) note.hidden = false;

  function beep() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      [0, 0.45].forEach(function (at) {
        var o = audio.createOscillator(), g = audio.createGain();
        o.frequency.value = 880; g.gain.value = 0.4;
        o.connect(g); g.connect(audio.destination);
        o.start(audio.currentTime + at); o.stop(audio.currentTime + at + 0.3);
      });
    } catch (e) { /* no sound on this phone */ }
    if (navigator.vibrate) navigator.vibrate([400, 150, 400, 150, 400]);
  }

  var box = document.getElementById("remind");
  var stateText = document.getElementById("remind-state");
  function say(id, n) {
    var tpl = document.getElementById(id);
    if (tpl && stateText) stateText.textContent = (tpl.content || tpl).textContent.replace("{n}", n);
  }
  if (box) {
    box.hidden = false;
    var sel = document.getElementById("remind-n");
    if (want) { sel.value = String(want); say("remind-set", want); }
    document.getElementById("remind-on").addEventListener("click", function () {
      want = parseInt(sel.value, 10); told = false;
      try { localStorage.setItem(store, String(want)); } catch (e) { /* kept for this visit only */ }
      beep();  // a tap unlocks sound on phones that need one, and shows what the alert is like
      say("remind-set", want);
    });
  }

  function check(newSt, newAhead) {
    if (newSt === "called" && st !== "called") beep();
    if (want && newSt === "waiting" && newAhead !== "" && newAhead !== null && +newAhead <= want && !told) {
      told = true; beep(); say("remind-now", newAhead);
    }
    st = newSt; ahead = newAhead;
  }
  check(st, ahead);

  var es = new EventSource(live.getAttribute("data-live"));
  es.onopen = function () { live.setAttribute("data-connected", "1"); };
  es.onerror = function () { live.removeAttribute("data-connected"); };
  es.addEventListener("state", function (ev) {
    var d = JSON.parse(ev.data);
    live.innerHTML = d.html;
    if (box && d.st !== "waiting" && d.st !== "cancelling") box.hidden = true;
    check(d.st, d.ahead);
  });
  es.addEventListener("gone", function () { es.close(); location.reload(); });
})();
