// The site's latent-space explorers: plain JavaScript, no dependency, no network. The decoders and test codes
// come from models.js (window.VAE_SITE, written by vaelib/site/export.py), loaded by a classic <script src>,
// which a browser runs from file:// as well. Each explorer draws its digits on 28 x 28 canvases (scaled by CSS)
// and records the z it decoded in the canvas's data-z attribute, so that a test can decode the same z in torch.
// The digits' palette and the committed seeds' losses come from window.VAE_FACTS, which the page build writes
// from vaelib/analysis/palette.py and results/ (never typed here). Coordinates are named from 1 (z1, z2, ...).
"use strict";

const SITE = window.VAE_SITE;
const FACTS = window.VAE_FACTS;
const SIDE = 28;

function bytes(b64) {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function halfToFloat(h) {
  const sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
  if (exp === 0) return sign * Math.pow(2, -14) * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * Math.pow(2, exp - 15) * (1 + frac / 1024);
}

function floats(b64, precision) {
  const raw = bytes(b64);
  if (precision === "float32") return new Float32Array(raw.buffer);
  const half = new Uint16Array(raw.buffer), out = new Float32Array(half.length);
  for (let i = 0; i < half.length; i++) out[i] = halfToFloat(half[i]);
  return out;
}

// A network (a decoder or an encoder): its layers with weights as Float32Array; run(x, shape) gives its output.
function makeNet(record) {
  const layers = record.layers.map(l => {
    const out = Object.assign({}, l);
    if (l.w) { out.w = floats(l.w, record.precision); out.b = floats(l.b, record.precision); }
    return out;
  });
  return function run(input, inShape) {
    let x = Float32Array.from(input), shape = inShape || [x.length];
    for (const l of layers) {
      if (l.type === "linear") {
        const y = new Float32Array(l.out);
        for (let o = 0; o < l.out; o++) {
          let s = l.b[o];
          const row = o * l.in;
          for (let i = 0; i < l.in; i++) s += l.w[row + i] * x[i];
          y[o] = s;
        }
        x = y; shape = [l.out];
      } else if (l.type === "relu") {
        for (let i = 0; i < x.length; i++) if (x[i] < 0) x[i] = 0;
      } else if (l.type === "unflatten") {
        shape = l.shape.slice();
      } else if (l.type === "flatten") {
        shape = [x.length];
      } else if (l.type === "conv") {
        const [c, h, w] = shape, k = l.kernel, st = l.stride, p = l.padding;
        const oh = Math.floor((h + 2 * p - k) / st) + 1, ow = Math.floor((w + 2 * p - k) / st) + 1;
        const y = new Float32Array(l.out * oh * ow);
        for (let o = 0; o < l.out; o++)
          for (let oy = 0; oy < oh; oy++)
            for (let ox = 0; ox < ow; ox++) {
              let s = l.b[o];
              for (let ic = 0; ic < c; ic++) {
                const wb = (o * c + ic) * k * k;
                for (let ky = 0; ky < k; ky++) {
                  const iy = oy * st - p + ky;
                  if (iy < 0 || iy >= h) continue;
                  for (let kx = 0; kx < k; kx++) {
                    const ix = ox * st - p + kx;
                    if (ix < 0 || ix >= w) continue;
                    s += l.w[wb + ky * k + kx] * x[(ic * h + iy) * w + ix];
                  }
                }
              }
              y[(o * oh + oy) * ow + ox] = s;
            }
        x = y; shape = [l.out, oh, ow];
      } else if (l.type === "convtranspose") {
        const [c, h, w] = shape, k = l.kernel, st = l.stride, p = l.padding;
        const oh = (h - 1) * st - 2 * p + k, ow = (w - 1) * st - 2 * p + k;
        const y = new Float32Array(l.out * oh * ow);
        for (let o = 0; o < l.out; o++) y.fill(l.b[o], o * oh * ow, (o + 1) * oh * ow);
        for (let ic = 0; ic < c; ic++)
          for (let iy = 0; iy < h; iy++)
            for (let ix = 0; ix < w; ix++) {
              const v = x[(ic * h + iy) * w + ix];
              if (v === 0) continue;
              for (let o = 0; o < l.out; o++) {
                const wb = (ic * l.out + o) * k * k, yb = o * oh * ow;
                for (let ky = 0; ky < k; ky++) {
                  const oy = iy * st - p + ky;
                  if (oy < 0 || oy >= oh) continue;
                  for (let kx = 0; kx < k; kx++) {
                    const ox = ix * st - p + kx;
                    if (ox < 0 || ox >= ow) continue;
                    y[yb + oy * ow + ox] += v * l.w[wb + ky * k + kx];
                  }
                }
              }
            }
        x = y; shape = [l.out, oh, ow];
      } else {
        throw new Error("unknown layer " + l.type);
      }
    }
    return x;
  };
}

const decoders = {}, encoders = {};
function decoder(name) {     // z -> 784 pixel probabilities
  if (!decoders[name]) {
    const net = makeNet(SITE.models[name]);
    decoders[name] = z => { const x = net(z); for (let i = 0; i < x.length; i++) x[i] = 1 / (1 + Math.exp(-x[i])); return x; };
  }
  return decoders[name];
}
function encoder(name) {     // 784 grey levels in [0, 1] -> {mu, logvar}
  if (!encoders[name]) {
    const net = makeNet(SITE.models[name].encoder), d = SITE.models[name].latent_dim;
    encoders[name] = x => { const out = net(x, [1, SIDE, SIDE]); return {mu: Array.from(out.slice(0, d)), logvar: Array.from(out.slice(d, 2 * d))}; };
  }
  return encoders[name];
}

const IMAGES = SITE ? bytes(SITE.images) : null;
const codeCache = {};
function codes(name) {        // [test image][coordinate] posterior means, float32
  if (!codeCache[name]) codeCache[name] = floats(SITE.models[name].codes, "float16");
  return codeCache[name];
}
function code(name, image) {
  const d = SITE.models[name].latent_dim;
  return Array.from(codes(name).subarray(image * d, (image + 1) * d));
}

function drawDigit(canvas, pixels, z) {  // pixels: probabilities (decoded) or grey levels 0-255 (test image)
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(SIDE, SIDE);
  for (let i = 0; i < SIDE * SIDE; i++) {
    const g = z === undefined ? pixels[i] : Math.round(pixels[i] * 255);
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = g;
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  if (z !== undefined) canvas.dataset.z = JSON.stringify(z);
}

function testImage(index) {
  return IMAGES.subarray(index * SIDE * SIDE, (index + 1) * SIDE * SIDE);
}

function timed(fn) {             // every decode's milliseconds, for the latency benchmark
  const t = performance.now();
  fn();
  (window.VAE_TIMINGS = window.VAE_TIMINGS || []).push(performance.now() - t);
}

const PALETTE = FACTS.palette;

function scatter(canvas, xs, ys, labels, range) {
  const ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
  ctx.clearRect(0, 0, W, H);
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, W, H);
  const toX = v => (v - range[0]) / (range[1] - range[0]) * W, toY = v => H - (v - range[2]) / (range[3] - range[2]) * H;
  for (let i = 0; i < xs.length; i++) {
    ctx.fillStyle = PALETTE[labels[i]];
    ctx.fillRect(toX(xs[i]) - 1.5, toY(ys[i]) - 1.5, 3, 3);
  }
  canvas.dataset.range = JSON.stringify(range);
  return {toX, toY};
}

function ring(canvas, x, y, r) {
  const ctx = canvas.getContext("2d");
  ctx.strokeStyle = "#000"; ctx.lineWidth = 2;
  ctx.beginPath(); ctx.arc(x, y, r || 7, 0, 2 * Math.PI); ctx.stroke();
}

function extent(values) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
  const pad = 0.05 * (hi - lo || 1);
  return [lo - pad, hi + pad];
}

function option(select, value, text) {
  const o = document.createElement("option");
  o.value = value; o.textContent = text;
  select.appendChild(o);
}

const NAMES = SITE ? Object.keys(SITE.models) : [];
const runName = n => `${SITE.models[n].arch}, d = ${SITE.models[n].latent_dim}, seed ${SITE.models[n].seed}`;
const zName = i => `z${i + 1}`;                                // coordinates are named from 1
function klOrder(name) {                                       // coordinates by KL to the prior, largest first
  const kl = SITE.models[name].kl_per_dim;
  return kl.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0]).map(p => p[1]);
}
function shownAxes(name) {                                     // z1 across and z2 up at d = 2, else the top two by KL
  return SITE.models[name].latent_dim === 2 ? [0, 1] : klOrder(name).slice(0, 2);
}
function axisName(name, i) {
  return SITE.models[name].latent_dim === 2 ? zName(i) : `${zName(i)} (KL rank ${klOrder(name).indexOf(i) + 1})`;
}
function column(name, i) {
  const all = codes(name), d = SITE.models[name].latent_dim, out = [];
  for (let k = 0; k < SITE.test_images; k++) out.push(all[k * d + i]);
  return out;
}
function mapRange(name, cx, cy) {                              // fixed per model and axes: the test means and [-3, 3]
  const ex = extent(column(name, cx).concat([-3, 3])), ey = extent(column(name, cy).concat([-3, 3]));
  return [...ex, ...ey];
}
function drawMap(canvas, name, cx, cy) {                      // the test means, with the axes named
  const out = scatter(canvas, column(name, cx), column(name, cy), SITE.labels, mapRange(name, cx, cy));
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#222"; ctx.font = "12px sans-serif";
  ctx.textAlign = "right"; ctx.fillText(`${axisName(name, cx)} \u2192`, canvas.width - 4, canvas.height - 6);
  ctx.textAlign = "left"; ctx.fillText(`\u2191 ${axisName(name, cy)}`, 4, 14);
  return out;
}
function nearestRead(name, z) {                                // what the 5 nearest test means (all d coordinates) read
  const all = codes(name), d = z.length, dist = [];
  for (let k = 0; k < SITE.test_images; k++) {
    let s = 0;
    for (let i = 0; i < d; i++) { const t = all[k * d + i] - z[i]; s += t * t; }
    dist.push([s, SITE.labels[k]]);
  }
  dist.sort((a, b) => a[0] - b[0]);
  const votes = new Array(10).fill(0);
  dist.slice(0, 5).forEach(p => votes[p[1]]++);
  const best = votes.indexOf(Math.max(...votes));
  return `the 5 nearest test means read a ${best} (${votes[best]} of 5)`;
}
function imageIndex(input) {                                   // a test image number, clamped to those carried
  const v = Math.max(0, Math.min(SITE.test_images - 1, Math.round(+input.value) || 0));
  input.value = v;
  return v;
}
function canvasPoint(canvas, ev) {
  const r = canvas.getBoundingClientRect();
  return [(ev.clientX - r.left) * canvas.width / r.width, (ev.clientY - r.top) * canvas.height / r.height];
}
const fmt = v => v.toFixed(2);

// The latent explorer: the map is the control (pointer, drag, hover, arrow keys); the sliders follow it.
function latentExplorer(root) {
  const $ = c => root.querySelector(c);
  const model = $(".model"), cx = $(".coord-x"), cy = $(".coord-y"), base = $(".base"), sx = $(".slider-x"),
    sy = $(".slider-y"), digit = $(".digit"), map = $(".map"), label = $(".label"), trav = $(".traversal");
  NAMES.forEach(n => option(model, n, runName(n)));
  base.max = SITE.test_images - 1;
  let z = [], range = null, prev = [0, 1];
  function chooseModel() {
    const name = model.value, d = SITE.models[name].latent_dim;
    for (const sel of [cx, cy]) {
      sel.innerHTML = "";
      (d === 2 ? [0, 1] : klOrder(name)).forEach(i => option(sel, i, `${axisName(name, i)}` +
        (d > 2 ? `, ${SITE.models[name].kl_per_dim[i].toFixed(2)} nats` : "")));
    }
    [cx.value, cy.value] = shownAxes(name).map(String);
    fromBase();
  }
  function axes() {
    const i = +cx.value, j = +cy.value;
    if (i === j) {                                             // x and y are never the same coordinate
      if (i === prev[0]) cx.value = prev[1]; else cy.value = prev[0];
    }
    prev = [+cx.value, +cy.value];
    range = mapRange(model.value, prev[0], prev[1]);
    [sx.min, sx.max, sy.min, sy.max] = range.map(v => v.toFixed(2));
    $(".name-x").textContent = zName(prev[0]); $(".name-y").textContent = zName(prev[1]);
    sx.setAttribute("aria-label", `${zName(prev[0])}, across the map`);
    sy.setAttribute("aria-label", `${zName(prev[1])}, up the map`);
  }
  function fromBase() {
    z = code(model.value, imageIndex(base));
    axes();
    traversal();
    show(z, true);
  }
  function show(at, keep) {                                    // decode `at`; keep: it is the point (not a hover)
    const name = model.value, d = SITE.models[name].latent_dim, [i, j] = prev;
    timed(() => drawDigit(digit, decoder(name)(at), at));
    const {toX, toY} = drawMap(map, name, i, j);
    ring(map, toX(z[i]), toY(z[j]));
    if (!keep) { const c = map.getContext("2d"); c.strokeStyle = "#d55e00"; c.beginPath(); c.arc(toX(at[i]), toY(at[j]), 5, 0, 2 * Math.PI); c.stroke(); }
    if (keep) { sx.value = at[i]; sy.value = at[j]; }
    const where = `${zName(i)} = ${fmt(at[i])}, ${zName(j)} = ${fmt(at[j])}` +
      (d > 2 ? `; the other ${d - 2} coordinates at test image ${base.value}'s mean` : "");
    const read = nearestRead(name, at);
    label.textContent = `${runName(name)}: ${where}; ${read}.`;
    map.setAttribute("aria-label", `latent map of ${runName(name)}, ${zName(i)} across and ${zName(j)} up: the point is at ${where}; ${read}. Arrow keys move it.`);
    digit.setAttribute("aria-label", `the decoding of ${where}`);
  }
  function setPoint(vx, vy) {
    z[prev[0]] = Math.min(range[1], Math.max(range[0], vx));
    z[prev[1]] = Math.min(range[3], Math.max(range[2], vy));
    show(z, true);
  }
  function fromPointer(ev) {
    const [px, py] = canvasPoint(map, ev);
    return [range[0] + px / map.width * (range[1] - range[0]), range[3] - py / map.height * (range[3] - range[2])];
  }
  function traversal() {                                       // d > 2: each coordinate (top 10 by KL) from -2 to 2
    trav.innerHTML = "";
    const name = model.value, d = SITE.models[name].latent_dim;
    if (d === 2) return;
    const head = document.createElement("p");
    head.textContent = `Traversal: each row moves one coordinate (by KL rank${d > 10 ? ", the first 10" : ""}) from -2 to 2, the others at test image ${base.value}'s mean.`;
    trav.appendChild(head);
    for (const i of klOrder(name).slice(0, 10)) {
      const row = document.createElement("div"), cap = document.createElement("span");
      row.className = "row"; cap.textContent = axisName(name, i); cap.style.minWidth = "9em";
      row.appendChild(cap);
      for (let v = -2; v <= 2; v += 2 / 3) {
        const c = document.createElement("canvas"), at = z.slice();
        at[i] = Math.round(v * 100) / 100;
        c.width = c.height = SIDE; c.setAttribute("role", "img");
        c.setAttribute("aria-label", `${zName(i)} = ${fmt(at[i])}`);
        drawDigit(c, decoder(name)(at), at);
        row.appendChild(c);
      }
      trav.appendChild(row);
    }
  }
  model.addEventListener("change", chooseModel);
  for (const el of [cx, cy]) el.addEventListener("change", () => { axes(); show(z, true); });
  base.addEventListener("change", fromBase);
  sx.addEventListener("input", () => setPoint(+sx.value, z[prev[1]]));
  sy.addEventListener("input", () => setPoint(z[prev[0]], +sy.value));
  let dragging = false;
  map.addEventListener("pointerdown", ev => { dragging = true; map.setPointerCapture(ev.pointerId); setPoint(...fromPointer(ev)); ev.preventDefault(); });
  map.addEventListener("pointermove", ev => {
    if (dragging) setPoint(...fromPointer(ev));
    else if (ev.pointerType === "mouse") { const at = z.slice(), [vx, vy] = fromPointer(ev); at[prev[0]] = vx; at[prev[1]] = vy; show(at, false); }
  });
  for (const type of ["pointerup", "pointercancel"]) map.addEventListener(type, () => { dragging = false; });
  map.addEventListener("pointerleave", () => { if (!dragging) show(z, true); });
  map.addEventListener("keydown", ev => {
    const step = [(range[1] - range[0]) / 40, (range[3] - range[2]) / 40];
    const move = {ArrowLeft: [-step[0], 0], ArrowRight: [step[0], 0], ArrowUp: [0, step[1]], ArrowDown: [0, -step[1]]}[ev.key];
    if (!move) return;
    ev.preventDefault();
    setPoint(z[prev[0]] + move[0], z[prev[1]] + move[1]);
  });
  window.VAE_LATENT = (name, image) => {                       // the embedding sends an image's code here
    model.value = name; base.value = image; chooseModel();
    root.scrollIntoView(); map.focus({preventScroll: true});
  };
  chooseModel();
}

// The interpolation explorer: two test images, a slider between their posterior means.
function interpolationExplorer(root) {
  const model = root.querySelector(".model"), a = root.querySelector(".image-a"), b = root.querySelector(".image-b");
  const t = root.querySelector(".slider-t"), digit = root.querySelector(".digit");
  NAMES.forEach(n => option(model, n, runName(n)));
  a.max = b.max = SITE.test_images - 1;
  function update() {
    const ia = imageIndex(a), ib = imageIndex(b);
    drawDigit(root.querySelector(".original-a"), testImage(ia));
    drawDigit(root.querySelector(".original-b"), testImage(ib));
    const za = code(model.value, ia), zb = code(model.value, ib), w = +t.value;
    const z = za.map((v, i) => (1 - w) * v + w * zb[i]);
    timed(() => drawDigit(digit, decoder(model.value)(z), z));
    const text = `t = ${w.toFixed(2)}: (1 - t) z(image ${ia}, a ${SITE.labels[ia]}) + t z(image ${ib}, a ${SITE.labels[ib]})`;
    root.querySelector(".label").textContent = text;
    digit.setAttribute("aria-label", `the decoding at ${text}`);
  }
  for (const el of [model, a, b]) el.addEventListener("change", update);
  t.addEventListener("input", update);
  update();
}

// The test embedding of any exported run: click or arrow keys pick an image; it is ringed and can be sent on.
function embeddingExplorer(root) {
  const model = root.querySelector(".model"), map = root.querySelector(".map");
  NAMES.forEach(n => option(model, n, runName(n)));
  let picked = 0, transform = null;
  function draw() {
    const [i, j] = shownAxes(model.value);
    transform = {i, j, xs: column(model.value, i), ys: column(model.value, j), ...drawMap(map, model.value, i, j)};
  }
  function pick(index) {
    picked = index;
    draw();
    ring(map, transform.toX(transform.xs[index]), transform.toY(transform.ys[index]), 8);
    drawDigit(root.querySelector(".original"), testImage(index));
    const z = code(model.value, index), {i, j} = transform;
    timed(() => drawDigit(root.querySelector(".digit"), decoder(model.value)(z), z));
    const text = `test image ${index}, a ${SITE.labels[index]}: its posterior mean has ${zName(i)} = ${fmt(z[i])}, ` +
      `${zName(j)} = ${fmt(z[j])}; beside the map, the image and the decoding of its mean`;
    root.querySelector(".label").textContent = text;
    map.setAttribute("aria-label", `test embedding of ${runName(model.value)}, ${axisName(model.value, i)} across and ` +
      `${axisName(model.value, j)} up; picked: ${text}. Left and right arrows pick the previous and next image.`);
    root.dataset.picked = index;
  }
  map.addEventListener("click", ev => {
    const [px, py] = canvasPoint(map, ev);
    let best = 0, dist = Infinity;
    for (let k = 0; k < transform.xs.length; k++) {
      const dx = transform.toX(transform.xs[k]) - px, dy = transform.toY(transform.ys[k]) - py;
      if (dx * dx + dy * dy < dist) { dist = dx * dx + dy * dy; best = k; }
    }
    pick(best);
  });
  map.addEventListener("keydown", ev => {
    const step = {ArrowRight: 1, ArrowUp: 1, ArrowLeft: -1, ArrowDown: -1}[ev.key];
    if (ev.key === "Enter") root.querySelector(".send").click();
    if (!step) return;
    ev.preventDefault();
    pick((picked + step + SITE.test_images) % SITE.test_images);
  });
  root.querySelector(".send").addEventListener("click", () => window.VAE_LATENT && window.VAE_LATENT(model.value, picked));
  model.addEventListener("change", () => pick(picked));
  pick(0);
}

// Your own digit: drawn on a 28 x 28 pad (pointer events) or a test image, encoded by the chosen run's encoder.
function drawExplorer(root) {
  const $ = c => root.querySelector(c);
  const model = $(".model"), pad = $(".pad"), map = $(".map"), digit = $(".digit"), image = $(".image");
  const names = NAMES.filter(n => SITE.models[n].encoder);
  if (!names.length) return missing(root, "This page carries no encoder, so it cannot encode a digit: `python -m vaelib.site` with the runs' weights exports them.");
  names.forEach(n => option(model, n, runName(n)));
  image.max = SITE.test_images - 1;
  let ink = new Float32Array(SIDE * SIDE), last = null, pending = false;
  function fromImage() { const g = testImage(imageIndex(image)); ink = Float32Array.from(g, v => v / 255); encode(); }
  function encode() {
    const grey = Uint8ClampedArray.from(ink, v => Math.round(v * 255)), x = Float32Array.from(grey, v => v / 255);
    drawDigit(pad, grey);
    const name = model.value, {mu, logvar} = encoder(name)(x), [i, j] = shownAxes(name);
    const {toX, toY} = drawMap(map, name, i, j), range = JSON.parse(map.dataset.range);
    const sd = logvar.map(v => Math.exp(0.5 * v)), ctx = map.getContext("2d");
    if (SITE.models[name].latent_dim === 2) {
      ctx.strokeStyle = "#000"; ctx.lineWidth = 1.5; ctx.beginPath();
      ctx.ellipse(toX(mu[i]), toY(mu[j]), sd[i] / (range[1] - range[0]) * map.width, sd[j] / (range[3] - range[2]) * map.height, 0, 0, 2 * Math.PI);
      ctx.stroke();
    }
    ring(map, toX(mu[i]), toY(mu[j]), 5);
    timed(() => drawDigit(digit, decoder(name)(mu), mu));
    map.dataset.mu = JSON.stringify(mu); map.dataset.logvar = JSON.stringify(logvar);
    const text = `q(z|x) under ${runName(name)}: mean ${zName(i)} = ${fmt(mu[i])}, ${zName(j)} = ${fmt(mu[j])}, ` +
      `standard deviation ${fmt(sd[i])} and ${fmt(sd[j])}; ${nearestRead(name, mu)}`;
    $(".label").textContent = text + ".";
    map.setAttribute("aria-label", `your digit's posterior on the test embedding: ${text}`);
    pad.setAttribute("aria-label", "your digit (draw with a pointer)");
    digit.setAttribute("aria-label", `the decoding of the mean: ${text}`);
  }
  function stamp(x, y) {                                       // a soft round brush about 2.5 pixels wide
    for (let r = Math.max(0, Math.floor(y - 2)); r <= Math.min(SIDE - 1, Math.ceil(y + 2)); r++)
      for (let c = Math.max(0, Math.floor(x - 2)); c <= Math.min(SIDE - 1, Math.ceil(x + 2)); c++) {
        const d = Math.hypot(c + 0.5 - x, r + 0.5 - y), v = Math.min(1, Math.max(0, 1.6 - d));
        if (v > ink[r * SIDE + c]) ink[r * SIDE + c] = v;
      }
  }
  function stroke(ev) {
    const p = canvasPoint(pad, ev);
    const from = last || p, n = Math.max(1, Math.ceil(Math.hypot(p[0] - from[0], p[1] - from[1]) * 4));
    for (let k = 1; k <= n; k++) stamp(from[0] + (p[0] - from[0]) * k / n, from[1] + (p[1] - from[1]) * k / n);
    last = p;
    if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; encode(); }); }
  }
  pad.addEventListener("pointerdown", ev => { pad.setPointerCapture(ev.pointerId); last = null; stroke(ev); ev.preventDefault(); });
  pad.addEventListener("pointermove", ev => { if (last) stroke(ev); });
  for (const type of ["pointerup", "pointercancel"]) pad.addEventListener(type, () => { last = null; encode(); });
  $(".clear").addEventListener("click", () => { ink = new Float32Array(SIDE * SIDE); encode(); });
  image.addEventListener("change", fromImage);
  model.addEventListener("change", encode);
  fromImage();
}

// The seed strip: the same z through every seed's decoder of a 2-D architecture.
function seedStrip(root) {
  const arch = root.querySelector(".arch"), sx = root.querySelector(".slider-x"), sy = root.querySelector(".slider-y");
  const strip = root.querySelector(".strip");
  const archs = [...new Set(Object.values(SITE.models).filter(m => m.latent_dim === 2).map(m => m.arch))];
  archs.forEach(a => option(arch, a, a));
  function update() {
    strip.innerHTML = "";
    const z = [+sx.value, +sy.value];
    const names = NAMES.filter(n => SITE.models[n].latent_dim === 2 && SITE.models[n].arch === arch.value)
      .sort((p, q) => SITE.models[p].seed - SITE.models[q].seed);
    for (const n of names) {
      const fig = document.createElement("figure"), c = document.createElement("canvas"), cap = document.createElement("figcaption");
      c.width = c.height = SIDE; c.className = "digit"; c.dataset.model = n; c.setAttribute("role", "img");
      c.setAttribute("aria-label", `seed ${SITE.models[n].seed}'s decoding of z1 = ${fmt(z[0])}, z2 = ${fmt(z[1])}`);
      timed(() => drawDigit(c, decoder(n)(z), z));
      cap.textContent = `seed ${SITE.models[n].seed}`;
      fig.append(c, cap); strip.appendChild(fig);
    }
    root.querySelector(".label").textContent = `z1 = ${fmt(z[0])}, z2 = ${fmt(z[1])} through each seed's decoder`;
  }
  arch.addEventListener("change", update);
  for (const el of [sx, sy]) el.addEventListener("input", update);
  if (archs.length) update(); else missing(root, "No 2-D model in this sweep.");
}

// Your own run, placed: every committed seed of the setting, the 95% prediction interval, the collapse threshold
// (all from results/ through window.VAE_FACTS), and where the reader's final test loss falls.
function placeExplorer(root) {
  const $ = c => root.querySelector(c), settings = FACTS.settings, keys = Object.keys(settings);
  if (!keys.length) return missing(root, "This page was built without results/final_by_seed.csv, so it has no seeds to place a run among.");
  const arch = $(".arch"), dim = $(".dim"), error = $(".error"), placed = $(".placed");
  const allowed = keys.map(k => `${settings[k].arch} d=${settings[k].latent_dim}`).join(", ");
  [...new Set(keys.map(k => settings[k].arch))].forEach(a => option(arch, a, a));
  function dims() { dim.innerHTML = ""; keys.filter(k => settings[k].arch === arch.value).forEach(k => option(dim, settings[k].latent_dim, settings[k].latent_dim)); }
  function verdict(s, loss) {
    const below = s.losses.filter(v => v < loss).length, same = s.seeds.filter((_, k) => Math.abs(s.losses[k] - loss) < 5e-5);
    const collapsed = loss > s.collapse_above, interval = s.pi === null ? "no 95% prediction interval (one committed seed); " :
      `${loss >= s.pi[0] && loss <= s.pi[1] ? "inside" : "outside"} the 95% prediction interval [${s.pi[0].toFixed(2)}, ${s.pi[1].toFixed(2)}]; `;
    return {collapsed, text: `${s.arch} d=${s.latent_dim}, test loss ${loss.toFixed(4)} nats: above ${below} of the ${s.losses.length} committed seeds` +
      (same.length ? `, the loss of seed ${same[0]}` : "") + "; " + interval +
      (collapsed ? `looks collapsed (above ${s.collapse_above.toFixed(2)}, the report's collapse rule)` : `not collapsed (at most ${s.collapse_above.toFixed(2)})`)};
  }
  function figure(s, loss, v) {
    const values = s.losses.concat([loss, ...(s.pi || []), s.collapse_above]), [lo, hi] = extent(values);
    // drawn as wide as the box (600 at most), so that its 12-px text stays 12 px on a phone; a narrow
    // figure puts its legend on a line of its own, under the axis' two ends
    const W = Math.max(280, Math.min(600, placed.clientWidth || 600)), narrow = W < 520, H = narrow ? 126 : 110;
    const x = u => 20 + (u - lo) / (hi - lo) * (W - 40), NS = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(NS, "svg"), add = (tag, attrs, text) => {
      const e = document.createElementNS(NS, tag);
      for (const [k, a] of Object.entries(attrs)) e.setAttribute(k, a);
      if (text !== undefined) e.textContent = text;
      svg.appendChild(e); return e;
    };
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`); svg.setAttribute("class", "placed-run");
    svg.setAttribute("role", "img"); svg.setAttribute("aria-label", `${s.arch} d=${s.latent_dim}: your loss among the committed seeds`);
    if (s.pi) add("rect", {x: x(s.pi[0]), y: 20, width: x(s.pi[1]) - x(s.pi[0]), height: 55, fill: "#cfe3f3"});
    add("line", {x1: x(s.collapse_above), x2: x(s.collapse_above), y1: 12, y2: 82, stroke: "#b00020", "stroke-dasharray": "5 3", "stroke-width": 2});
    const right = x(s.collapse_above) > W - 130;     // near the right edge: the label to the line's left, not cut
    add("text", {x: x(s.collapse_above) + (right ? -4 : 4), y: 18, fill: "#b00020", "font-size": 12,
                  "text-anchor": right ? "end" : "start"}, "collapse threshold");
    s.seeds.forEach((seed, k) => { const c = add("circle", {cx: x(s.losses[k]), cy: 62, r: 5, fill: "#0072b2", "data-seed": seed}); const t = document.createElementNS(NS, "title"); t.textContent = `seed ${seed}: ${s.losses[k].toFixed(4)}`; c.appendChild(t); });
    add("circle", {cx: x(loss), cy: 38, r: 7, fill: v.collapsed ? "#b00020" : "#d55e00", class: "yours", "data-loss": loss});
    add("text", {x: x(loss) + 10, y: 42, "font-size": 12, fill: "#222"}, "yours");
    add("text", {x: 20, y: 104, "font-size": 12, fill: "#222"}, `${lo.toFixed(1)} nats`);
    add("text", {x: W - 20, y: 104, "font-size": 12, fill: "#222", "text-anchor": "end"}, `${hi.toFixed(1)} nats`);
    add("text", {x: W / 2, y: narrow ? 122 : 104, "font-size": 12, fill: "#222", "text-anchor": "middle"}, s.pi ? "dots: committed seeds; band: 95% prediction interval" : "dots: committed seeds (one: no interval)");
    return svg;
  }
  function place(rows) {
    placed.innerHTML = "";                // each verdict said once, under its figure (the box is a live region)
    for (const [s, loss] of rows) {
      const v = verdict(s, loss), p = document.createElement("p");
      p.textContent = v.text; p.className = v.collapsed ? "verdict collapsed" : "verdict";
      placed.append(figure(s, loss, v), p);
    }
  }
  function fail(message) { error.textContent = message; placed.innerHTML = ""; }
  function number(text, what) {
    const v = Number(String(text).trim());
    if (String(text).trim() === "" || !Number.isFinite(v) || v <= 0) throw new Error(`${what}: ${JSON.stringify(String(text).trim())} is not allowed; enter a positive number of nats per image`);
    return v;
  }
  function setting(a, d, where) {
    const s = settings[`${String(a).trim()}_${String(d).trim()}`];
    if (!s) throw new Error(`${where}: arch ${JSON.stringify(String(a).trim())} at d ${JSON.stringify(String(d).trim())} is not a committed setting; allowed: ${allowed}`);
    return s;
  }
  $(".go").addEventListener("click", () => {
    try { error.textContent = ""; place([[setting(arch.value, dim.value, "architecture and d"), number($(".loss").value, "final test loss")]]); }
    catch (e) { fail(e.message); }
  });
  $(".go-csv").addEventListener("click", () => {
    try {
      error.textContent = "";
      const lines = $(".csv").value.trim().split(/\r?\n/).filter(l => l.trim());
      const head = (lines.shift() || "").split(",").map(h => h.trim());
      const at = ["arch", "latent_dim", "test_loss"].map(c => head.indexOf(c));
      if (at.includes(-1) || !lines.length) throw new Error("CSV: its first line must name the columns arch, latent_dim and test_loss, and a line per run follow");
      place(lines.map((l, k) => { const f = l.split(","); return [setting(f[at[0]], f[at[1]], `CSV line ${k + 2}`), number(f[at[2]], `CSV line ${k + 2}, test_loss`)]; }));
    } catch (e) { fail(e.message); }
  });
  arch.addEventListener("change", dims);
  dims();
}

function missing(root, message) {        // an explorer whose data is missing says so in one line
  for (const el of root.children) if (!/^H\d$/.test(el.tagName)) el.hidden = true;
  const status = root.querySelector(".status");
  status.textContent = message; status.hidden = false;
}

function legend(root) {          // the digits' colours, under every map: a swatch and the digit in dark text
  const map = root.querySelector(".map");
  if (!map || root.dataset.explorer === "place") return;
  const p = document.createElement("p");
  p.className = "legend";
  p.innerHTML = '<span class="key">digit:</span>' + PALETTE.map((c, i) =>
    `<span class="swatch" style="background:${c}" aria-hidden="true"></span><span class="key">${i}</span>`).join("");
  map.parentNode.insertAdjacentElement("afterend", p);
}

const EXPLORERS = {latent: latentExplorer, interpolation: interpolationExplorer, embedding: embeddingExplorer,
                   strip: seedStrip, draw: drawExplorer, place: placeExplorer};
for (const root of document.querySelectorAll("[data-explorer]")) {
  const kind = root.dataset.explorer;
  if (!SITE && kind !== "place") { missing(root, "This explorer needs models.js beside index.html, and it did not load."); continue; }
  EXPLORERS[kind](root);
  if (SITE) legend(root);
}
window.VAE_READY_MS = performance.now();     // time to interactive, for python -m benchmarks.site
window.VAE_READY = true;
