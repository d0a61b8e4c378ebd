// status.js: polls /status every 500 ms and draws each instance; keeps a short RTT history per instance.
"use strict";

const POLL_MS = 500;
const HISTORY = 60; // samples: the last 30 seconds
const history = new Map();

function text(tag, content, className) {
  const node = document.createElement(tag);
  node.textContent = content;
  if (className) node.className = className;
  return node;
}

function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

function ms(n) { return n === null || n === undefined ? "–" : `${n < 10 ? n.toFixed(2) : n.toFixed(0)} ms`; }

function sparkline(samples) {
  const svgNs = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNs, "svg");
  svg.setAttribute("class", "rtt");
  svg.setAttribute("viewBox", `0 0 ${HISTORY - 1} 100`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "recent heartbeat round-trip times");
  const max = Math.max(...samples.filter(s => s !== null), 0.001);
  const points = samples.map((s, i) => s === null ? null : `${i},${100 - (s / max) * 95}`).filter(p => p !== null);
  const line = document.createElementNS(svgNs, "polyline");
  line.setAttribute("points", points.join(" "));
  svg.appendChild(line);
  return svg;
}

function card(instance) {
  const role = instance.role;
  const section = document.createElement("section");
  section.className = `instance ${instance.heartbeat}`;
  section.dataset.instance = instance.number;
  section.dataset.role = role;
  section.dataset.heartbeat = instance.heartbeat;

  const title = document.createElement("h2");
  title.append(text("span", `#${instance.number} ${instance.address}:${instance.port}`));
  const roleClass = role === "primary" ? "primary" : role === "standby" ? "standby" : role.includes("primary") ? "split" : "";
  title.append(text("span", role, `badge role ${roleClass}`));
  section.append(title);

  const s = instance.sessions || { read_write: 0, read_only: 0, resolve: 0 };
  const rows = [
    ["heartbeat", instance.heartbeat],
    ["last RTT", instance.heartbeat === "up" ? ms(instance.last_rtt_ms) : "–"],
    ["timeline", instance.timeline ?? "–"],
    ["lag", instance.lag_bytes === null && instance.replay_lag_ms === null ? "–" : `${bytes(instance.lag_bytes)} · ${ms(instance.replay_lag_ms)}`],
    ["sessions", `rw ${s.read_write} · ro ${s.read_only} · two-phase ${s.resolve}`],
  ];
  const list = document.createElement("dl");
  for (const [name, value] of rows) {
    list.append(text("dt", name), text("dd", String(value)));
  }
  section.append(list);
  const samples = history.get(instance.number) || [];
  const seen = samples.filter(v => v !== null);
  section.append(text("p", seen.length ? `RTT, last ${Math.round(samples.length * POLL_MS / 1000)} s: max ${ms(Math.max(...seen))}` : "RTT: no samples yet", "caption"));
  section.append(sparkline(samples));
  const note = instance.excluded || (instance.heartbeat !== "up" ? instance.last_error : null);
  if (note) section.append(text("p", note, "note"));
  return section;
}

function remember(instances) {
  for (const i of instances) {
    const samples = history.get(i.number) || [];
    samples.push(i.heartbeat === "up" ? i.last_rtt_ms : null);
    while (samples.length > HISTORY) samples.shift();
    history.set(i.number, samples);
  }
}

function render(status) {
  remember(status.instances);
  const state = document.getElementById("state");
  state.textContent = status.state;
  state.className = `badge ${status.state}`;
  const up = status.instances.filter(i => i.heartbeat === "up").length;
  document.getElementById("summary").textContent =
    `pid ${status.pid} · ${status.directory} · ${up} of ${status.instances.length} instance(s) with heartbeat up`;

  const split = status.instances.filter(i => i.role === "stale primary" || i.role === "contested primary");
  const alert = document.getElementById("alert");
  alert.className = "";
  if (split.length > 0) {
    alert.hidden = false;
    alert.textContent = `Split brain: ${split.map(i => `#${i.number} is a ${i.role}`).join(", ")}.`;
  } else if (!status.instances.some(i => i.role === "primary")) {
    alert.hidden = false;
    alert.textContent = "No primary: writes cannot be routed.";
  } else {
    alert.hidden = true;
  }

  document.getElementById("instances").replaceChildren(...status.instances.map(card));
  document.getElementById("updated").textContent = new Date().toLocaleTimeString();
}

async function poll() {
  try {
    const response = await fetch("/status", { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    render(await response.json());
  } catch (error) {
    const alert = document.getElementById("alert");
    alert.hidden = false;
    alert.className = "stale";
    alert.textContent = `conmgr does not answer (${error.message}); showing the last state seen.`;
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
