// cron-log-service dashboard: the archive calendar, an hour's drill-down and the "Now" panel,
// drawn from /api/hours, /api/hour and /api/status (docs/dashboard.md). Every value from the
// server is set with textContent or an SVG attribute, never parsed as markup: log lines are
// attacker-controlled input. A ?token= in the address is kept in memory only (sent as a bearer
// token) and taken out of the address bar.
/* global document, window, fetch, history, URLSearchParams, setInterval */
'use strict';

const SVG = 'http://www.w3.org/2000/svg';
const params = new URLSearchParams(window.location.search);
const token = params.get('token');
if (token !== null) {
  params.delete('token');
  const rest = params.toString();
  history.replaceState(null, '', window.location.pathname + (rest ? `?${rest}` : ''));
}

const $ = (id) => document.getElementById(id);
let selectedId = null;
let focusId = null;

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

async function api(path) {
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  const res = await fetch(path, { headers, cache: 'no-store' });
  const body = await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }));
  if (!res.ok) throw new Error(body.error || `${res.status} ${res.statusText}`);
  return body;
}

function showError(err) {
  const p = $('error');
  p.hidden = err === null;
  p.textContent = err === null ? '' : String(err.message || err);
}

function bytes(n) {
  if (n === null || n === undefined) return '–';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** An ISO instant as `yyyy-MM-dd HH:mm:ss UTC`. */
function when(iso) {
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC` : '–';
}

function seconds(s) {
  if (s === null || s === undefined) return '–';
  if (Math.abs(s) < 120) return `${Math.round(s)} s`;
  if (Math.abs(s) < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** A class-safe form of a state name. */
function stateClass(state) {
  return `state-${String(state).toLowerCase().replace(/[^a-z0-9-]/g, '-')}`;
}

function cellButton(info, state) {
  const b = el('button', info.glyph, `cell tone-${info.tone} ${stateClass(state)}`);
  b.type = 'button';
  b.dataset.state = state;
  return b;
}

function dl(target, rows) {
  clear(target);
  for (const [k, v] of rows) {
    target.appendChild(el('dt', k));
    target.appendChild(el('dd', v === null || v === undefined || v === '' ? '–' : v));
  }
}

function table(headers, rows) {
  const t = el('table');
  const head = el('tr');
  for (const h of headers) head.appendChild(el('th', h));
  const thead = el('thead');
  thead.appendChild(head);
  t.appendChild(thead);
  const body = el('tbody');
  for (const r of rows) {
    const tr = el('tr');
    for (const c of r) tr.appendChild(el('td', c === null || c === undefined ? '' : c));
    body.appendChild(tr);
  }
  t.appendChild(body);
  return t;
}

// ---- calendar ---------------------------------------------------------------------------

let legendByState = new Map();

function info(state) {
  return legendByState.get(state) || { state, label: state, glyph: '?', tone: 'fail', description: '' };
}

function renderLegend(states) {
  const ul = $('legend');
  clear(ul);
  for (const s of states) {
    const li = el('li');
    li.title = s.description;
    const swatch = cellButton(s, s.state);
    swatch.tabIndex = -1;
    swatch.setAttribute('aria-hidden', 'true');
    li.appendChild(swatch);
    li.appendChild(el('span', s.label));
    ul.appendChild(li);
  }
  const late = el('li');
  const marker = el('span', '', 'cell late');
  marker.setAttribute('aria-hidden', 'true');
  late.appendChild(marker);
  late.appendChild(el('span', 'late parts (corner mark)'));
  ul.appendChild(late);
}

function cellLabel(day, h) {
  const i = info(h.state);
  const parts = [`${day.date} ${h.hour}:00${h.fold ? ' (repeated hour)' : ''} UTC${h.offset}`, i.label];
  if (h.archived !== null) parts.push(`archived ${h.archived}`);
  if (h.mongo !== null) parts.push(`MongoDB ${h.mongo}`);
  if (h.lateParts > 0) parts.push(`${h.lateParts} late part(s)`);
  if (h.lastError) parts.push(`error: ${h.lastError}`);
  return parts.join(', ');
}

function renderCalendar(cal) {
  legendByState = new Map(cal.states.map((s) => [s.state, s]));
  renderLegend(cal.states);
  $('zone').textContent = `(${cal.timezone})`;
  $('namespace').textContent = cal.namespace;
  const grid = $('calendar');
  clear(grid);
  const head = el('div', null, 'hours-head');
  head.setAttribute('aria-hidden', 'true');
  for (let i = 0; i < 24; i++) head.appendChild(el('span', String(i).padStart(2, '0')));
  grid.appendChild(head);
  let first = null;
  let keep = null;
  for (const day of cal.days.slice().reverse()) {
    const row = el('div', null, 'day');
    row.setAttribute('role', 'row');
    const label = el('span', day.date, 'day-label');
    label.setAttribute('role', 'rowheader');
    if (day.hours.length !== 24 && day.hours.length > 0 && day.hours[0].hour === '00' && day.hours[day.hours.length - 1].hour === '23') {
      label.textContent = `${day.date} (${day.hours.length}h)`;
    }
    row.appendChild(label);
    for (const h of day.hours) {
      const i = info(h.state);
      const b = cellButton(i, h.state);
      b.setAttribute('role', 'gridcell');
      b.dataset.id = h.id;
      b.dataset.hour = h.hour;
      b.tabIndex = -1;
      if (h.lateParts > 0) b.classList.add('late');
      b.setAttribute('aria-label', cellLabel(day, h));
      b.title = cellLabel(day, h);
      if (h.id === selectedId) b.classList.add('selected');
      b.addEventListener('click', () => {
        focusCell(b);
        openDetail(h.id);
      });
      row.appendChild(b);
      first = first || b;
      if (h.id === focusId) keep = b;
    }
    grid.appendChild(row);
  }
  const active = keep || first;
  if (active) active.tabIndex = 0;
}

function cells() {
  return Array.from($('calendar').querySelectorAll('button.cell'));
}

function focusCell(b) {
  for (const c of cells()) c.tabIndex = -1;
  b.tabIndex = 0;
  focusId = b.dataset.id;
  b.focus();
}

$('calendar').addEventListener('keydown', (e) => {
  const current = e.target.closest('button.cell');
  if (!current) return;
  const row = current.parentElement;
  const inRow = Array.from(row.querySelectorAll('button.cell'));
  const idx = inRow.indexOf(current);
  let next = null;
  if (e.key === 'ArrowRight') next = inRow[idx + 1];
  else if (e.key === 'ArrowLeft') next = inRow[idx - 1];
  else if (e.key === 'Home') next = inRow[0];
  else if (e.key === 'End') next = inRow[inRow.length - 1];
  else if (e.key === 'ArrowUp' || e.key === 'ArrowDown') {
    const other = e.key === 'ArrowUp' ? row.previousElementSibling : row.nextElementSibling;
    const cellsThere = other ? Array.from(other.querySelectorAll('button.cell')) : [];
    next = cellsThere.find((c) => c.dataset.hour === current.dataset.hour) || cellsThere[Math.min(idx, cellsThere.length - 1)];
  } else return;
  e.preventDefault();
  if (next) focusCell(next);
});

async function loadCalendar() {
  try {
    renderCalendar(await api(`/api/hours?days=${encodeURIComponent($('days').value)}`));
    showError(null);
  } catch (err) {
    showError(err);
  }
}

// ---- drill-down -------------------------------------------------------------------------

async function openDetail(id) {
  selectedId = id;
  for (const c of cells()) c.classList.toggle('selected', c.dataset.id === id);
  const section = $('detail');
  const body = $('detail-body');
  section.hidden = false;
  $('detail-title').textContent = `Hour ${id}`;
  clear(body);
  body.appendChild(el('p', 'Loading…', 'muted'));
  let d;
  try {
    d = await api(`/api/hour?id=${encodeURIComponent(id)}`);
  } catch (err) {
    clear(body);
    body.appendChild(el('p', String(err.message || err), 'error'));
    return;
  }
  clear(body);
  const facts = el('dl', null, 'detail-grid');
  facts.id = 'detail-facts';
  const v = d.verdict;
  dl(facts, [
    ['State', `${d.state.glyph} ${d.state.label}`],
    ['Meaning', d.state.description],
    ['From', `${d.start} to ${d.end} (${d.timezone})`],
    ['Reconcile', v ? `${v.status}: MongoDB ${v.mongo}, archive ${v.archived} (at ${v.at})` : 'not reconciled yet'],
    ['Ledger', d.ledger ? `${d.ledger.state ?? '–'}, ${d.ledger.count ?? '–'} documents, ${bytes(d.ledger.bytes)}` : 'no record'],
    ['Last error', d.ledger?.lastError ?? ''],
    ['Manifest', d.manifest ? d.manifestKey : d.manifestError ? `unreadable: ${d.manifestError}` : `none at ${d.manifestKey}`],
  ]);
  body.appendChild(facts);
  if (d.manifest) {
    const m = d.manifest;
    body.appendChild(el('h3', `Manifest: ${m.count} documents, ${bytes(m.bytes)}, ${m.parts.length} object(s)`));
    const t = table(
      ['object', 'part', 'revision', 'documents', 'bytes', 'sha256', 'late'],
      m.parts.map((p) => [p.key, p.part, p.revision, p.count, p.bytes, p.sha256, p.late ? 'late part' : '']),
    );
    t.id = 'manifest-parts';
    body.appendChild(t);
  }
  body.appendChild(el('h3', `Operations (${d.operations.length})`));
  const ops = table(
    ['at', 'op', 'outcome', 'documents', 'duration', 'error'],
    d.operations.map((o) => [o.at, o.op, o.outcome, o.count ?? '', o.durationMs === undefined ? '' : `${o.durationMs} ms`, o.error ?? '']),
  );
  ops.id = 'operations';
  body.appendChild(ops);
  if (d.preview) {
    body.appendChild(el('h3', `First lines of ${d.preview.key}${d.preview.truncated ? ' (more follow)' : ''}`));
    const pre = el('pre', d.preview.lines.join('\n'), 'preview');
    pre.id = 'preview';
    body.appendChild(pre);
    if (d.preview.error) body.appendChild(el('p', d.preview.error, 'error'));
  }
}

// ---- now --------------------------------------------------------------------------------

function sparkline(title, values, format) {
  const fig = el('figure');
  const last = values.length ? values[values.length - 1] : null;
  fig.appendChild(el('figcaption', `${title}: ${last === null ? '–' : format(last)} (last hour)`));
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 100 30');
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `${title} over the last hour`);
  const nums = values.map((x) => (typeof x === 'number' ? x : 0));
  if (nums.length > 1) {
    const max = Math.max(...nums, 1e-9);
    const pts = nums.map((x, i) => `${((i / (nums.length - 1)) * 100).toFixed(2)},${(29 - (x / max) * 28).toFixed(2)}`);
    const line = document.createElementNS(SVG, 'polyline');
    line.setAttribute('points', pts.join(' '));
    line.setAttribute('vector-effect', 'non-scaling-stroke');
    svg.appendChild(line);
  }
  fig.appendChild(svg);
  return fig;
}

function renderStatus(s) {
  const st = s.status;
  const r = st.running;
  dl($('now-figures'), [
    ['Owner', r ? `${r.command} on ${r.host} (pid ${r.pid}${r.epoch === null ? '' : `, epoch ${r.epoch}`})` : st.mongo.reachable ? 'no archiver running' : 'unknown'],
    ['Role', s.role ?? '–'],
    ['MongoDB', st.mongo.reachable ? 'reachable' : `unreachable: ${st.mongo.error}`],
    ['Capture lag', st.checkpoint ? seconds(st.checkpoint.lagSeconds) : '–'],
    ['Checkpoint age', st.checkpoint ? seconds(st.checkpoint.ageSeconds) : 'none'],
    ['Oplog headroom', st.oplog ? `${seconds(st.oplog.headroomSeconds)} of ${seconds(st.oplog.windowSeconds)}` : 'unknown'],
    ['Next seal', s.nextSeal.dueAt ? `hour ${s.nextSeal.hour}, due after ${when(s.nextSeal.dueAt)}` : '–'],
    ['Next seal run', s.nextSeal.nextScheduledRun ? `${when(s.nextSeal.nextScheduledRun)} (${s.nextSeal.schedule})` : s.nextSeal.schedule],
    ['Open hours', st.openHours.map((h) => `${h.hour} (${h.documents} docs, ${bytes(h.bytes)})`).join('; ')],
    ['Waiting delivery', st.sealedPending.length ? `${st.sealedPending.length} file(s)` : 'none'],
    ['Last verified', st.lastVerified ?? '–'],
  ]);
  const spark = $('sparklines');
  clear(spark);
  if (s.live) {
    const samples = s.live.samples;
    spark.appendChild(sparkline('Capture lag', samples.map((x) => x.lagSeconds), seconds));
    spark.appendChild(sparkline('Events/s', samples.map((x) => x.eventsPerSecond), (x) => x.toFixed(1)));
    spark.appendChild(sparkline('Spool bytes', samples.map((x) => x.spoolBytes), bytes));
  } else {
    spark.appendChild(el('p', 'Live figures (lag, events/s, spool bytes) are shown by `run` on its metrics port.', 'muted'));
  }
  const att = $('attention');
  clear(att);
  for (const a of st.attention) att.appendChild(el('li', a));
  if (!st.attention.length) att.appendChild(el('li', 'none', 'muted'));
  const fails = $('failures');
  clear(fails);
  for (const f of st.recentFailures) fails.appendChild(el('li', `${f.at} ${f.op}${f.hour ? ` ${f.hour}` : ''}: ${f.error}`));
  if (!st.recentFailures.length) fails.appendChild(el('li', 'none', 'muted'));
}

async function loadStatus() {
  try {
    renderStatus(await api('/api/status'));
  } catch (err) {
    showError(err);
  }
}

// ?days=N picks the range (one of the select's options) and stays in the address bar.
const wanted = params.get('days');
if (wanted !== null && Array.from($('days').options).some((o) => o.value === wanted)) $('days').value = wanted;
$('days').addEventListener('change', () => {
  const p = new URLSearchParams(window.location.search);
  p.set('days', $('days').value);
  history.replaceState(null, '', `${window.location.pathname}?${p.toString()}`);
  void loadCalendar();
});
$('refresh').addEventListener('click', () => {
  void loadCalendar();
  void loadStatus();
});
void loadCalendar();
void loadStatus();
setInterval(() => void loadStatus(), 10_000);
setInterval(() => void loadCalendar(), 30_000);
