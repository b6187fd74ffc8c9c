#!/usr/bin/env node
/**
 * Draws the studio's sample content and style images (web/public/samples/) from seeded vector
 * scenes rendered by sharp: the project ships its own pictures, made here, never the dev data
 * set. Run `node scripts/make-samples.mjs` after changing a scene; the output is committed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const out = fileURLToPath(new URL('../web/public/samples/', import.meta.url));
const W = 640;
const H = 480;

/** Mulberry32: a small seeded generator, so the pictures are the same on every run. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const svg = (body, defs = '') => `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}"><defs>${defs}</defs>${body}</svg>`;

/** A harbour at evening: sky, hills, sea with reflections, a lighthouse and boats. */
function harbour() {
  const r = rng(11);
  let boats = '';
  for (let i = 0; i < 4; i++) {
    const x = 90 + i * 130 + r() * 40;
    const y = 350 + r() * 60;
    const c = ['#c0392b', '#1f6f8b', '#e1a730', '#f4f1ec'][i];
    boats += `<path d="M${x - 34} ${y} L${x + 34} ${y} L${x + 24} ${y + 16} L${x - 24} ${y + 16} Z" fill="${c}"/><rect x="${x - 2}" y="${y - 58}" width="4" height="58" fill="#3b2f2a"/><path d="M${x + 2} ${y - 54} L${x + 30} ${y - 8} L${x + 2} ${y - 8} Z" fill="#fffaf0"/>`;
  }
  let waves = '';
  for (let i = 0; i < 40; i++) waves += `<rect x="${r() * W}" y="${300 + r() * 180}" width="${20 + r() * 60}" height="2" fill="#ffffff" opacity="${0.15 + r() * 0.3}"/>`;
  return svg(
    `<rect width="${W}" height="300" fill="url(#sky)"/><circle cx="470" cy="210" r="46" fill="#ffd27a"/>
     <path d="M0 250 Q120 170 240 230 T480 215 T640 235 L640 300 L0 300 Z" fill="#51606f"/>
     <path d="M0 275 Q160 230 320 270 T640 262 L640 300 L0 300 Z" fill="#2f3e46"/>
     <rect y="300" width="${W}" height="${H - 300}" fill="url(#sea)"/>
     <rect x="455" y="300" width="30" height="180" fill="#ffd27a" opacity="0.35"/>
     <rect x="96" y="150" width="26" height="130" fill="#f4f1ec"/><rect x="96" y="175" width="26" height="14" fill="#b3472b"/><rect x="96" y="215" width="26" height="14" fill="#b3472b"/><path d="M92 150 L126 150 L109 128 Z" fill="#2f3e46"/>
     ${waves}${boats}`,
    `<linearGradient id="sky" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#2d3f73"/><stop offset="0.55" stop-color="#c96d6d"/><stop offset="1" stop-color="#f2b880"/></linearGradient>
     <linearGradient id="sea" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#3d5a80"/><stop offset="1" stop-color="#1b2a41"/></linearGradient>`,
  );
}

/** A still life: table, cloth, a bowl of fruit and a jug, lit from the left. */
function stillLife() {
  return svg(
    `<rect width="${W}" height="${H}" fill="#6b4f3a"/><rect width="${W}" height="300" fill="url(#wall)"/>
     <rect y="300" width="${W}" height="180" fill="url(#table)"/>
     <path d="M60 320 L420 300 L470 470 L20 480 Z" fill="#e9e4d8"/><path d="M60 320 L420 300 L430 335 L55 350 Z" fill="#d7d0c0"/>
     <ellipse cx="250" cy="330" rx="150" ry="30" fill="#2f3e46"/>
     <circle cx="190" cy="290" r="48" fill="url(#orange)"/><circle cx="285" cy="285" r="52" fill="url(#apple)"/><circle cx="240" cy="250" r="42" fill="url(#lemon)"/>
     <ellipse cx="330" cy="300" rx="30" ry="38" fill="url(#plum)"/>
     <path d="M100 330 Q250 420 400 330 L400 330 Q250 372 100 330 Z" fill="#24323a"/>
     <path d="M470 150 Q450 190 470 240 Q430 300 460 380 L570 380 Q600 300 560 240 Q580 190 560 150 Z" fill="url(#jug)"/><path d="M560 200 Q620 220 575 300" stroke="#254d6b" stroke-width="12" fill="none"/>`,
    `<linearGradient id="wall" x1="0" y1="0" x2="1" y2="0"><stop offset="0" stop-color="#d9c7a0"/><stop offset="1" stop-color="#7d6a4f"/></linearGradient>
     <linearGradient id="table" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#8a5a3b"/><stop offset="1" stop-color="#4a2f20"/></linearGradient>
     <radialGradient id="orange" cx="0.35" cy="0.35"><stop offset="0" stop-color="#ffcf70"/><stop offset="1" stop-color="#d86a12"/></radialGradient>
     <radialGradient id="apple" cx="0.35" cy="0.35"><stop offset="0" stop-color="#f08a7a"/><stop offset="1" stop-color="#8e1b1b"/></radialGradient>
     <radialGradient id="lemon" cx="0.35" cy="0.35"><stop offset="0" stop-color="#fff6a8"/><stop offset="1" stop-color="#c9a10c"/></radialGradient>
     <radialGradient id="plum" cx="0.35" cy="0.35"><stop offset="0" stop-color="#a77bbd"/><stop offset="1" stop-color="#3c1650"/></radialGradient>
     <linearGradient id="jug" x1="0" y1="0" x2="1" y2="0"><stop offset="0" stop-color="#7fb0d6"/><stop offset="1" stop-color="#1f4966"/></linearGradient>`,
  );
}

/** A street of houses under a blue sky with trees. */
function street() {
  const r = rng(5);
  let houses = '';
  let x = 0;
  const colours = ['#d95d39', '#f0a202', '#4f6d7a', '#c0d6df', '#e8dab2', '#7a9e7e', '#b56576'];
  while (x < W) {
    const w = 70 + r() * 60;
    const h = 150 + r() * 120;
    const c = colours[Math.floor(r() * colours.length)];
    houses += `<rect x="${x}" y="${400 - h}" width="${w}" height="${h}" fill="${c}"/><path d="M${x - 4} ${400 - h} L${x + w / 2} ${400 - h - 40} L${x + w + 4} ${400 - h} Z" fill="#4a3b34"/>`;
    for (let wy = 400 - h + 20; wy < 360; wy += 45) for (let wx = x + 12; wx < x + w - 20; wx += 30) houses += `<rect x="${wx}" y="${wy}" width="16" height="24" fill="#f7f3e8" stroke="#3b2f2a" stroke-width="2"/>`;
    houses += `<rect x="${x + w / 2 - 12}" y="360" width="24" height="40" fill="#3b2f2a"/>`;
    x += w;
  }
  let trees = '';
  for (let i = 0; i < 5; i++) {
    const tx = 60 + i * 130 + r() * 30;
    trees += `<rect x="${tx - 5}" y="370" width="10" height="50" fill="#4a3222"/><circle cx="${tx}" cy="360" r="${28 + r() * 10}" fill="#3f7d3a"/><circle cx="${tx - 14}" cy="372" r="20" fill="#2e6130"/>`;
  }
  return svg(
    `<rect width="${W}" height="${H}" fill="url(#skyb)"/><circle cx="90" cy="80" r="36" fill="#fff3c4"/>
     <ellipse cx="420" cy="90" rx="80" ry="22" fill="#ffffff" opacity="0.85"/><ellipse cx="470" cy="75" rx="50" ry="20" fill="#ffffff" opacity="0.9"/>
     ${houses}<rect y="400" width="${W}" height="80" fill="#8d8d8d"/><rect y="436" width="${W}" height="6" fill="#e8e8e8"/>${trees}`,
    `<linearGradient id="skyb" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#4a90c9"/><stop offset="1" stop-color="#bfe0f5"/></linearGradient>`,
  );
}

/** Swirling brushwork in blues and yellows (a night-sky style, drawn, not copied). */
function swirls() {
  const r = rng(21);
  let paths = '';
  for (let i = 0; i < 260; i++) {
    const cx = r() * W;
    const cy = r() * H;
    const rad = 10 + r() * 60;
    const a0 = r() * Math.PI * 2;
    const a1 = a0 + 1 + r() * 3;
    const pts = [];
    for (let t = 0; t <= 12; t++) {
      const a = a0 + ((a1 - a0) * t) / 12;
      const rr = rad * (1 - t / 30);
      pts.push(`${(cx + rr * Math.cos(a)).toFixed(1)} ${(cy + rr * Math.sin(a)).toFixed(1)}`);
    }
    const c = ['#1b3a6b', '#2e5c9a', '#5d8fc9', '#f2d15c', '#e9b43c', '#0f2347', '#9ec1e6'][Math.floor(r() * 7)];
    paths += `<path d="M${pts.join(' L')}" stroke="${c}" stroke-width="${3 + r() * 7}" fill="none" stroke-linecap="round" opacity="0.9"/>`;
  }
  let stars = '';
  for (let i = 0; i < 9; i++) stars += `<circle cx="${r() * W}" cy="${r() * H * 0.6}" r="${10 + r() * 16}" fill="#f7e08a" stroke="#f2c94c" stroke-width="6" opacity="0.95"/>`;
  return svg(`<rect width="${W}" height="${H}" fill="#16305c"/>${paths}${stars}`);
}

/** Stained-glass tiles: a jittered grid of bright quads with dark leading. */
function mosaic() {
  const r = rng(8);
  const n = 12;
  const m = 9;
  const pts = [];
  for (let j = 0; j <= m; j++) for (let i = 0; i <= n; i++) pts.push([(i / n) * W + (i % n && r() * 30 - 15), (j / m) * H + (j % m && r() * 30 - 15)]);
  const p = (i, j) => pts[j * (n + 1) + i];
  const colours = ['#c0392b', '#e67e22', '#f1c40f', '#27ae60', '#2980b9', '#8e44ad', '#16a085', '#d35400', '#f39c12'];
  let tiles = '';
  for (let j = 0; j < m; j++) {
    for (let i = 0; i < n; i++) {
      const q = [p(i, j), p(i + 1, j), p(i + 1, j + 1), p(i, j + 1)];
      tiles += `<path d="M${q.map((v) => v.join(' ')).join(' L')} Z" fill="${colours[Math.floor(r() * colours.length)]}" stroke="#1d1d1d" stroke-width="6" stroke-linejoin="round"/>`;
    }
  }
  return svg(`<rect width="${W}" height="${H}" fill="#1d1d1d"/>${tiles}`);
}

/** Bold abstract strokes and circles on cream (a constructivist poster style). */
function poster() {
  const r = rng(3);
  let shapes = '';
  const colours = ['#b3261e', '#1f1c19', '#e0a100', '#1d4e89'];
  for (let i = 0; i < 14; i++) {
    const c = colours[i % colours.length];
    if (i % 3 === 0) shapes += `<circle cx="${r() * W}" cy="${r() * H}" r="${20 + r() * 80}" fill="${c}" opacity="0.92"/>`;
    else shapes += `<rect x="${r() * W - 100}" y="${r() * H}" width="${120 + r() * 300}" height="${8 + r() * 30}" fill="${c}" transform="rotate(${r() * 180 - 90} ${W / 2} ${H / 2})"/>`;
  }
  return svg(`<rect width="${W}" height="${H}" fill="#efe6d2"/>${shapes}`);
}

/** Ink wash: soft grey blots and dry brush lines. */
function inkWash() {
  const r = rng(17);
  let body = '';
  for (let i = 0; i < 40; i++) body += `<ellipse cx="${r() * W}" cy="${r() * H}" rx="${30 + r() * 120}" ry="${10 + r() * 50}" fill="#1f1c19" opacity="${0.04 + r() * 0.12}" transform="rotate(${r() * 60 - 30})"/>`;
  for (let i = 0; i < 30; i++) {
    const x = r() * W;
    const y = r() * H;
    body += `<path d="M${x} ${y} q${40 + r() * 80} ${r() * 40 - 20} ${100 + r() * 120} ${r() * 60 - 30}" stroke="#1f1c19" stroke-width="${1 + r() * 6}" fill="none" opacity="${0.5 + r() * 0.5}" stroke-linecap="round"/>`;
  }
  return svg(`<rect width="${W}" height="${H}" fill="#f3efe4"/>${body}`, '');
}

const SAMPLES = [
  { id: 'harbour', kind: 'content', title: 'Harbour at dusk', draw: harbour },
  { id: 'still-life', kind: 'content', title: 'Still life', draw: stillLife },
  { id: 'street', kind: 'content', title: 'Street', draw: street },
  { id: 'swirls', kind: 'style', title: 'Night swirls', draw: swirls },
  { id: 'mosaic', kind: 'style', title: 'Stained glass', draw: mosaic },
  { id: 'poster', kind: 'style', title: 'Poster', draw: poster },
  { id: 'ink-wash', kind: 'style', title: 'Ink wash', draw: inkWash },
];

mkdirSync(out, { recursive: true });
const index = [];
for (const s of SAMPLES) {
  const file = `${s.kind}-${s.id}.jpg`;
  await sharp(Buffer.from(s.draw())).jpeg({ quality: 86, mozjpeg: true }).toFile(out + file);
  index.push({ id: s.id, kind: s.kind, title: s.title, url: `/samples/${file}` });
}
writeFileSync(out + 'index.json', `${JSON.stringify({ $comment: 'written by scripts/make-samples.mjs', samples: index }, null, 2)}\n`);
console.log(`wrote ${index.length} samples to ${out}`);
