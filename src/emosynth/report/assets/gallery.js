(function () {
  "use strict";
  var tip = document.getElementById("tip");
  function fmt(x) { return (Math.round(parseFloat(x) * 100) / 100).toFixed(2); }
  function esc(s) { var d = document.createElement("div"); d.textContent = s; return d.innerHTML; }
  function labelsFor(el) {
    var host = el.closest("[data-labels]");
    return host && host.dataset.labels ? host.dataset.labels.split(",") : [];
  }
  function show(pt) {
    if (!tip) return;
    var h = "";
    if (pt.dataset.tile) h += "<img alt=\"\" width=\"128\" height=\"128\" src=\"" + pt.getAttribute("href").replace(/^item\//, "thumbs/").replace(/\.html$/, ".jpg") + "\">";
    h += "<dl><dt>target</dt><dd data-k=\"target\">" + esc(pt.dataset.target || "") + "</dd>" +
            "<dt class=\"h\">predicted</dt><dd></dd>";
    ["valence", "arousal", "dominance"].forEach(function (d) {
      if (pt.dataset[d] !== undefined) h += "<dt>" + d + "</dt><dd data-k=\"" + d + "\">" + fmt(pt.dataset[d]) + "</dd>";
    });
    if (pt.dataset.judges) {
      // each held-out judge's V/A (never in the objective): [[name, valence, arousal], ...]
      var js = [];
      try { js = JSON.parse(pt.dataset.judges); } catch (err) { js = []; }
      if (js.length) h += "<dt class=\"h\">held-out judges</dt><dd></dd>";
      js.forEach(function (j) {
        var va = [];
        if (j[1] !== null) va.push("V " + fmt(j[1]));
        if (j[2] !== null) va.push("A " + fmt(j[2]));
        h += "<dt>" + esc(String(j[0])) + "</dt><dd data-k=\"judge-" + esc(String(j[0])) + "\">" + va.join(" · ") + "</dd>";
      });
    }
    h += "</dl>";
    if (pt.dataset.p) {
      var labels = labelsFor(pt), ps = pt.dataset.p.split(",");
      h += "<table>";
      labels.forEach(function (l, i) {
        h += "<tr><td>" + esc(l) + "</td><td data-k=\"p_" + esc(l) + "\">" + fmt(ps[i]) +
             "</td><td class=\"b\"><span class=\"bar\" style=\"width:" + (parseFloat(ps[i]) * 100).toFixed(1) + "%\"></span></td></tr>";
      });
      h += "</table>";
    }
    tip.innerHTML = h;
    tip.hidden = false;
    place(pt);
  }
  function place(pt) {
    var r = pt.getBoundingClientRect(), w = tip.offsetWidth, t = tip.offsetHeight;
    var x = r.right + 12, y = r.top;
    if (x + w > window.innerWidth - 8) x = Math.max(8, r.left - w - 12);
    if (y + t > window.innerHeight - 8) y = Math.max(8, window.innerHeight - t - 8);
    tip.style.left = x + "px"; tip.style.top = y + "px";
  }
  function hide() { if (tip) tip.hidden = true; }
  document.addEventListener("mouseover", function (e) { var p = e.target.closest && e.target.closest(".pt"); if (p) show(p); });
  document.addEventListener("mouseout", function (e) {
    var p = e.target.closest && e.target.closest(".pt");
    if (p && !(e.relatedTarget && p.contains(e.relatedTarget)) && document.activeElement !== p) hide();
  });
  document.addEventListener("focusin", function (e) { var p = e.target.closest && e.target.closest(".pt"); if (p) show(p); else hide(); });
  document.addEventListener("keydown", function (e) { if (e.key === "Escape") hide(); });

  var plane = document.getElementById("plane");
  if (plane) {
    var size = document.getElementById("size"), regions = document.getElementById("regions");
    if (size) size.addEventListener("input", function () { plane.style.setProperty("--s", size.value); schedule(); });
    if (regions) regions.addEventListener("change", function () { plane.classList.toggle("no-regions", !regions.checked); });
    var pts = Array.prototype.slice.call(plane.querySelectorAll(".pt"));
    var pos = pts.map(function (p) { return [parseFloat(p.style.left), parseFloat(p.style.top)]; });
    // The images: drawn from the atlases onto one canvas, in document order (as the links stack).
    var canvas = plane.querySelector("canvas.tiles"), T = parseFloat(plane.dataset.tilePx || "64");
    var tiles = pts.map(function (p) { return (p.dataset.tile || "").split(",").map(Number); });
    var atlases = (plane.dataset.atlases || "").split(",").filter(Boolean).map(function (src) {
      var im = new Image(); im.onload = function () { schedule(); }; im.src = src; return im;
    });
    var pending = false;
    function schedule() { if (!pending) { pending = true; requestAnimationFrame(draw); } }
    function draw() {
      pending = false;
      var w = plane.clientWidth, dpr = window.devicePixelRatio || 1;
      canvas.width = Math.round(w * dpr); canvas.height = Math.round(w * dpr);
      var ctx = canvas.getContext("2d");
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.imageSmoothingQuality = "high";
      var s = parseFloat(getComputedStyle(plane).getPropertyValue("--s")) / 100 * w;
      ctx.strokeStyle = "rgba(0,0,0,.3)"; ctx.lineWidth = 1;
      for (var i = 0; i < pts.length; i++) {
        var t = tiles[i], im = atlases[t[0]];
        if (!im || !im.complete || !im.naturalWidth) continue;
        var x = pos[i][0] / 100 * w - s / 2, y = pos[i][1] / 100 * w - s / 2;
        ctx.drawImage(im, t[1] * T, t[2] * T, T, T, x, y, s, s);
        ctx.strokeRect(x + 0.5, y + 0.5, s - 1, s - 1);
      }
      plane.dataset.drawn = String(atlases.filter(function (a) { return a.complete && a.naturalWidth; }).length);
    }
    if (window.ResizeObserver) new ResizeObserver(schedule).observe(plane); else window.addEventListener("resize", schedule);
    var dirs = {ArrowRight: [1, 0], ArrowLeft: [-1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1]};
    plane.addEventListener("keydown", function (e) {
      var d = dirs[e.key], cur = pts.indexOf(document.activeElement);
      if (!d || cur < 0) return;
      // the nearest image in that direction, straight ahead counting more than off to the side
      var best = -1, bestCost = Infinity, o = pos[cur];
      for (var i = 0; i < pts.length; i++) {
        var dx = pos[i][0] - o[0], dy = pos[i][1] - o[1], ahead = dx * d[0] + dy * d[1];
        if (i === cur || ahead <= 0.01) continue;
        var side = Math.abs(dx * d[1] - dy * d[0]), cost = ahead + 2 * side;
        if (cost < bestCost) { bestCost = cost; best = i; }
      }
      if (best >= 0) { pts[best].focus(); e.preventDefault(); }
    });
  }

  var sort = document.getElementById("sort");
  if (sort) sort.addEventListener("change", function () {
    var k = sort.value, desc = k === "confidence";
    document.querySelectorAll("#panels .strip").forEach(function (ul) {
      var lis = Array.prototype.slice.call(ul.children);
      lis.sort(function (a, b) {
        var x = parseFloat(a.getAttribute("data-s-" + k)), y = parseFloat(b.getAttribute("data-s-" + k));
        return desc ? y - x : x - y;
      });
      lis.forEach(function (li) { ul.appendChild(li); });
    });
  });
})();
