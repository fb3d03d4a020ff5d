// The site's latent-space explorers: plain JavaScript, no dependency, no network. The decoders and test codes
// come from models.js (window.VAE_SITE, written by vaelib/site/export.py), loaded by a classic <script src>,
// which a browser runs from file:// as well. Each explorer draws its digits on 28 x 28 canvases (scaled by CSS)
// and records the z it decoded in the canvas's data-z attribute, so that a test can decode the same z in torch.
"use strict";

const SITE = window.VAE_SITE;
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

// A decoder: its layers with weights as Float32Array; decode(z) gives 784 pixel probabilities.
function makeDecoder(record) {
  const layers = record.layers.map(l => {
    const out = Object.assign({}, l);
    if (l.w) { out.w = floats(l.w, record.precision); out.b = floats(l.b, record.precision); }
    return out;
  });
  return function decode(z) {
    let x = Float32Array.from(z), shape = [x.length];
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
    const p = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) p[i] = 1 / (1 + Math.exp(-x[i]));
    return p;
  };
}

const decoders = {};
function decoder(name) {
  if (!decoders[name]) decoders[name] = makeDecoder(SITE.models[name]);
  return decoders[name];
}

const IMAGES = bytes(SITE.images);
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

const PALETTE = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000",
                 "#999999", "#882255"];

function scatter(canvas, xs, ys, labels, range) {
  const ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
  ctx.clearRect(0, 0, W, H);
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, W, H);
  const toX = v => (v - range[0]) / (range[1] - range[0]) * W, toY = v => H - (v - range[2]) / (range[3] - range[2]) * H;
  for (let i = 0; i < xs.length; i++) {
    ctx.fillStyle = PALETTE[labels[i]];
    ctx.fillRect(toX(xs[i]) - 1.5, toY(ys[i]) - 1.5, 3, 3);
  }
  return {toX, toY};
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

const firstSeed = SITE.seeds[0];
const explorable = Object.keys(SITE.models).filter(n => SITE.models[n].seed === firstSeed);

// The latent explorer: two coordinates (ordered by their KL) on sliders, the others held at a test image's mean.
function latentExplorer(root) {
  const model = root.querySelector(".model"), cx = root.querySelector(".coord-x"), cy = root.querySelector(".coord-y");
  const base = root.querySelector(".base"), sx = root.querySelector(".slider-x"), sy = root.querySelector(".slider-y");
  const digit = root.querySelector(".digit"), map = root.querySelector(".map"), label = root.querySelector(".label");
  explorable.forEach(n => option(model, n, `${SITE.models[n].arch}, d = ${SITE.models[n].latent_dim}`));
  for (let i = 0; i < SITE.test_images; i += 1) option(base, i, `test image ${i} (a ${SITE.labels[i]})`);
  let order = [];
  function chooseModel() {
    const m = SITE.models[model.value];
    order = m.kl_per_dim.map((kl, i) => [kl, i]).sort((a, b) => b[0] - a[0]).map(p => p[1]);
    for (const sel of [cx, cy]) {
      sel.innerHTML = "";
      order.forEach((i, rank) => option(sel, i, `z${i} (KL ${m.kl_per_dim[i].toFixed(2)} nats, rank ${rank + 1})`));
    }
    cx.value = order[0];
    cy.value = order[Math.min(1, order.length - 1)];
    startFromBase();
  }
  function startFromBase() {
    const z = code(model.value, +base.value);
    sx.value = z[+cx.value].toFixed(2); sy.value = z[+cy.value].toFixed(2);
    update();
  }
  function update() {
    const name = model.value, m = SITE.models[name];
    const z = code(name, +base.value);
    z[+cx.value] = +sx.value; z[+cy.value] = +sy.value;
    timed(() => drawDigit(digit, decoder(name)(z), z));
    const all = codes(name), d = m.latent_dim, xs = [], ys = [];
    for (let i = 0; i < SITE.test_images; i++) { xs.push(all[i * d + +cx.value]); ys.push(all[i * d + +cy.value]); }
    const range = [...extent(xs.concat([z[+cx.value]])), ...extent(ys.concat([z[+cy.value]]))];
    const {toX, toY} = scatter(map, xs, ys, SITE.labels, range);
    const ctx = map.getContext("2d");
    ctx.strokeStyle = "#000"; ctx.lineWidth = 2;
    ctx.beginPath(); ctx.arc(toX(z[+cx.value]), toY(z[+cy.value]), 7, 0, 2 * Math.PI); ctx.stroke();
    label.textContent = `z${cx.value} = ${(+sx.value).toFixed(2)}, z${cy.value} = ${(+sy.value).toFixed(2)}` +
      (d > 2 ? `; the other ${d - 2} coordinates at test image ${base.value}'s mean` : "");
  }
  model.addEventListener("change", chooseModel);
  for (const el of [cx, cy, base]) el.addEventListener("change", startFromBase);
  for (const el of [sx, sy]) el.addEventListener("input", update);
  chooseModel();
}

// The interpolation explorer: two test images, a slider between their posterior means.
function interpolationExplorer(root) {
  const model = root.querySelector(".model"), a = root.querySelector(".image-a"), b = root.querySelector(".image-b");
  const t = root.querySelector(".slider-t"), digit = root.querySelector(".digit");
  explorable.forEach(n => option(model, n, `${SITE.models[n].arch}, d = ${SITE.models[n].latent_dim}`));
  for (let i = 0; i < SITE.test_images; i++) { option(a, i, `test image ${i} (a ${SITE.labels[i]})`); option(b, i, `test image ${i} (a ${SITE.labels[i]})`); }
  b.value = 1;
  function update() {
    drawDigit(root.querySelector(".original-a"), testImage(+a.value));
    drawDigit(root.querySelector(".original-b"), testImage(+b.value));
    const za = code(model.value, +a.value), zb = code(model.value, +b.value), w = +t.value;
    const z = za.map((v, i) => (1 - w) * v + w * zb[i]);
    timed(() => drawDigit(digit, decoder(model.value)(z), z));
    root.querySelector(".label").textContent = `t = ${w.toFixed(2)}: (1 - t) z(image ${a.value}) + t z(image ${b.value})`;
  }
  for (const el of [model, a, b]) el.addEventListener("change", update);
  t.addEventListener("input", update);
  update();
}

// The 2-D test embedding: click a point to see the test image and its decoding.
function embeddingExplorer(root) {
  const model = root.querySelector(".model"), map = root.querySelector(".map");
  const twoD = explorable.filter(n => SITE.models[n].latent_dim === 2);
  twoD.forEach(n => option(model, n, `${SITE.models[n].arch}, d = 2, seed ${SITE.models[n].seed}`));
  let transform = null;
  function draw() {
    const all = codes(model.value), xs = [], ys = [];
    for (let i = 0; i < SITE.test_images; i++) { xs.push(all[2 * i]); ys.push(all[2 * i + 1]); }
    transform = {xs, ys, ...scatter(map, xs, ys, SITE.labels, [...extent(xs), ...extent(ys)])};
  }
  function pick(index) {
    drawDigit(root.querySelector(".original"), testImage(index));
    const z = code(model.value, index);
    timed(() => drawDigit(root.querySelector(".digit"), decoder(model.value)(z), z));
    root.querySelector(".label").textContent = `test image ${index}, a ${SITE.labels[index]}: its posterior mean ` +
      `(${z[0].toFixed(2)}, ${z[1].toFixed(2)}) and the decoding of it`;
    root.dataset.picked = index;
  }
  map.addEventListener("click", ev => {
    const r = map.getBoundingClientRect(), px = (ev.clientX - r.left) * map.width / r.width, py = (ev.clientY - r.top) * map.height / r.height;
    let best = 0, dist = Infinity;
    for (let i = 0; i < transform.xs.length; i++) {
      const dx = transform.toX(transform.xs[i]) - px, dy = transform.toY(transform.ys[i]) - py;
      if (dx * dx + dy * dy < dist) { dist = dx * dx + dy * dy; best = i; }
    }
    pick(best);
  });
  model.addEventListener("change", () => { draw(); pick(+(root.dataset.picked || 0)); });
  if (twoD.length) { draw(); pick(0); } else root.textContent = "No 2-D model in this sweep.";
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
    const names = Object.keys(SITE.models).filter(n => SITE.models[n].latent_dim === 2 && SITE.models[n].arch === arch.value)
      .sort((p, q) => SITE.models[p].seed - SITE.models[q].seed);
    for (const n of names) {
      const fig = document.createElement("figure"), c = document.createElement("canvas"), cap = document.createElement("figcaption");
      c.width = c.height = SIDE; c.className = "digit"; c.dataset.model = n;
      timed(() => drawDigit(c, decoder(n)(z), z));
      cap.textContent = `seed ${SITE.models[n].seed}`;
      fig.append(c, cap); strip.appendChild(fig);
    }
    root.querySelector(".label").textContent = `z = (${z[0].toFixed(2)}, ${z[1].toFixed(2)}) through each seed's decoder`;
  }
  arch.addEventListener("change", update);
  for (const el of [sx, sy]) el.addEventListener("input", update);
  if (archs.length) update(); else root.textContent = "No 2-D model in this sweep.";
}

function legend(root) {          // the digits' colours, under every map
  const map = root.querySelector(".map");
  if (!map) return;
  const p = document.createElement("p");
  p.className = "legend";
  p.innerHTML = "digit: " + PALETTE.map((c, i) => `<span style="color:${c}">&#9632; ${i}</span>`).join(" ");
  map.parentNode.insertAdjacentElement("afterend", p);
}

const EXPLORERS = {latent: latentExplorer, interpolation: interpolationExplorer, embedding: embeddingExplorer, strip: seedStrip};
for (const root of document.querySelectorAll("[data-explorer]")) { EXPLORERS[root.dataset.explorer](root); legend(root); }
window.VAE_READY = true;
