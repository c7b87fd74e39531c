// The kvs key explorer: one page on the admin listener, no framework, no
// build step. Every call goes to the admin listener, whose `/kvs` routes run
// the same guest logic as the public REST API, so what is shown here is what
// clients get, errors included.
//
// Safety: stored values are only ever inserted as text (textContent) or as
// an image's source; nothing is parsed as HTML. The admin token lives in
// this tab's sessionStorage and travels only as a bearer header.
'use strict';

const PAGE_SIZE = 100;
const POLL_MS = 2000;
const HISTORY = 150; // samples: 5 minutes at 2 s
const RICH_JSON_BYTES = 1 << 20; // larger JSON is shown as plain indented text
const HEX_BYTES = 64 << 10; // a hex dump shows at most this much
const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/svg+xml']);
const TEXT_TYPES = new Set([
  'application/xml', 'application/javascript', 'application/x-www-form-urlencoded',
  'application/yaml', 'application/toml', 'application/x-ndjson',
]);
const TOKEN_KEY = 'kvs-admin-token';

const $ = (id) => document.getElementById(id);

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  signedIn: false,
  prefix: '',
  cursors: [null], // cursors[n] opens page n
  page: 0,
  nextCursor: null,
  listing: 0, // the number of the latest listing asked for; older answers are dropped
  entry: null, // the entry shown: {key, type, etag, version, ttl, bytes}
  editing: null, // {mode: 'create'|'edit', key, etag}
  pending: null, // a save refused by a conflict: {key, type, ttl, body}
  objectUrls: [],
  history: [],
  previousSample: null,
  pollTimer: null,
};

// ---- calls --------------------------------------------------------------

class SignInNeeded extends Error {}

async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  if (state.token) headers.set('Authorization', `Bearer ${state.token}`);
  const response = await fetch(path, {
    ...options, headers, cache: 'no-store', credentials: 'omit', redirect: 'error',
  });
  if (response.status === 401) {
    showSignIn(state.token ? 'The admin token was refused.' : null);
    throw new SignInNeeded();
  }
  return response;
}

// The error a response carries, from kvs's JSON envelope where it has one.
async function errorText(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    if (body && typeof body.error === 'string') {
      return `${body.error} (HTTP ${response.status}, code ${body.errorcode})`;
    }
  } catch (_) { /* not JSON */ }
  return `HTTP ${response.status}: ${text.slice(0, 300)}`;
}

// A path segment for a key: every reserved character escaped, dots too, so
// keys like ".." or "a/b" reach the server as the key, not as a path.
function keyUrl(key, ttl) {
  const path = `/kvs/${encodeURIComponent(key).replace(/\./g, '%2E')}`;
  return ttl ? `${path}?ttl=${encodeURIComponent(ttl)}` : path;
}

function versionOf(etag) {
  const match = /^"(\d+)"$/.exec(etag || '');
  return match ? match[1] : '?';
}

// ---- notices --------------------------------------------------------------

function notice(message, ok = false) {
  const box = $('notice');
  box.textContent = message;
  box.classList.toggle('ok', ok);
  box.hidden = !message;
}

function failed(error) {
  if (error instanceof SignInNeeded) return;
  notice(`Cannot reach kvs: ${error.message}`);
}

// ---- sign-in ----------------------------------------------------------------

function showSignIn(message) {
  state.signedIn = false;
  clearInterval(state.pollTimer);
  state.pollTimer = null;
  $('app').hidden = true;
  $('sign-out').hidden = true;
  $('sign-in').hidden = false;
  $('summary').textContent = '';
  const error = $('sign-in-error');
  error.textContent = message || '';
  error.hidden = !message;
  $('token').focus();
}

// Whether the admin listener answers with the token at hand; a refused
// token brings up the sign-in form.
async function admitted() {
  try {
    const response = await api('/status');
    if (!response.ok) throw new Error(await errorText(response));
    return true;
  } catch (error) {
    failed(error);
    return false;
  }
}

async function signIn(event) {
  event.preventDefault();
  state.token = $('token').value;
  if (!(await admitted())) return;
  sessionStorage.setItem(TOKEN_KEY, state.token);
  $('token').value = '';
  await start();
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = null;
  showSignIn(null);
}

// Opens the app once the admin listener answers; with a token set and none
// given, the sign-in form comes up and nothing else is loaded.
async function start() {
  if (!(await admitted())) return;
  state.signedIn = true;
  $('sign-in').hidden = true;
  $('app').hidden = false;
  $('sign-out').hidden = !state.token;
  notice('');
  await Promise.all([loadPage(), loadGuest(), poll()]);
  clearInterval(state.pollTimer);
  state.pollTimer = setInterval(poll, POLL_MS);
}

// ---- tabs -------------------------------------------------------------------

function showView(name) {
  for (const tab of document.querySelectorAll('.tab')) {
    tab.setAttribute('aria-selected', String(tab.dataset.view === name));
  }
  for (const view of document.querySelectorAll('.view')) {
    view.hidden = view.id !== `view-${name}`;
  }
  if (name === 'guest') loadGuest().catch(failed);
  if (name === 'live') drawCharts();
}

// ---- the key list -------------------------------------------------------

// A listing answered after a newer one was asked for (a search typed on while a page
// loads, a click on Next before the page came) would show a page the state no longer
// describes, so only the latest listing is shown, and paging waits for it.
async function loadPage() {
  const listing = ++state.listing;
  $('prev-page').disabled = true;
  $('next-page').disabled = true;
  const params = new URLSearchParams({ prefix: state.prefix, limit: String(PAGE_SIZE) });
  const cursor = state.cursors[state.page];
  if (cursor !== null) params.set('cursor', cursor);
  const response = await api(`/kvs?${params}`);
  const page = response.ok ? await response.json() : null;
  if (listing !== state.listing) return;
  if (!response.ok) {
    notice(await errorText(response));
    $('prev-page').disabled = state.page === 0;
    return;
  }
  state.nextCursor = page.next_cursor;
  const list = $('keys');
  list.replaceChildren(...page.keys.map((key) => {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = key;
    button.title = key;
    button.dataset.key = key;
    if (state.entry && state.entry.key === key) button.setAttribute('aria-current', 'true');
    const item = document.createElement('li');
    item.append(button);
    return item;
  }));
  const first = state.page * PAGE_SIZE + 1;
  $('page-label').textContent = page.keys.length
    ? `Page ${state.page + 1} · keys ${first}–${first + page.keys.length - 1}`
    : (state.page === 0 ? 'No keys' : `Page ${state.page + 1} · no keys`);
  $('prev-page').disabled = state.page === 0;
  $('next-page').disabled = page.next_cursor === null;
}

function search(prefix) {
  state.prefix = prefix;
  state.cursors = [null];
  state.page = 0;
  return loadPage();
}

function nextPage() {
  if (state.nextCursor === null || $('next-page').disabled) return Promise.resolve();
  state.page += 1;
  state.cursors[state.page] = state.nextCursor;
  return loadPage();
}

function previousPage() {
  if (state.page === 0 || $('prev-page').disabled) return Promise.resolve();
  state.page -= 1;
  return loadPage();
}

// ---- one entry ------------------------------------------------------------

function objectUrl(bytes, type) {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  state.objectUrls.push(url);
  return url;
}

function releaseObjectUrls() {
  for (const url of state.objectUrls) URL.revokeObjectURL(url);
  state.objectUrls = [];
}

function showPanel(panel) {
  $('detail-empty').hidden = panel !== 'empty';
  $('entry').hidden = panel !== 'entry';
  $('editor').hidden = panel !== 'editor';
  $('conflict').hidden = panel !== 'conflict';
}

async function fetchEntry(key) {
  const response = await api(keyUrl(key));
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(await errorText(response));
  return {
    key,
    type: response.headers.get('content-type') || 'application/octet-stream',
    etag: response.headers.get('etag'),
    version: versionOf(response.headers.get('etag')),
    ttl: response.headers.get('kvs-ttl'),
    bytes: new Uint8Array(await response.arrayBuffer()),
  };
}

async function openKey(key) {
  const entry = await fetchEntry(key);
  if (entry === null) {
    notice(`The key ${JSON.stringify(key)} does not exist (any more).`);
    state.entry = null;
    showPanel('empty');
    await loadPage();
    return;
  }
  state.entry = entry;
  for (const button of $('keys').querySelectorAll('button')) {
    if (button.dataset.key === key) button.setAttribute('aria-current', 'true');
    else button.removeAttribute('aria-current');
  }
  renderEntry(entry);
}

function mediaType(type) {
  return type.split(';')[0].trim().toLowerCase();
}

function isJson(type) {
  const media = mediaType(type);
  return media === 'application/json' || media.endsWith('+json');
}

function isText(type) {
  const media = mediaType(type);
  return media.startsWith('text/') || TEXT_TYPES.has(media) ||
    (media.endsWith('+xml') && !media.startsWith('image/'));
}

// The bytes as UTF-8, or null when they are not valid UTF-8.
function decodeText(bytes) {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (_) {
    return null;
  }
}

function renderEntry(entry) {
  releaseObjectUrls();
  showPanel('entry');
  $('confirm-delete').hidden = true;
  $('entry-key').textContent = entry.key;
  $('entry-type').textContent = entry.type;
  $('entry-size').textContent = `${formatBytes(entry.bytes.length)} (${entry.bytes.length.toLocaleString('en')} bytes)`;
  $('entry-version').textContent = entry.version;
  $('entry-expiry').textContent = entry.ttl === null
    ? 'never'
    : `in ${entry.ttl} s (at ${new Date(Date.now() + Number(entry.ttl) * 1000).toLocaleString()})`;
  $('ttl').value = '';
  $('persist').disabled = entry.ttl === null;
  // Downloads are typed as opaque bytes, so a value never opens as a page.
  const download = $('download');
  download.href = objectUrl(entry.bytes, 'application/octet-stream');
  download.download = entry.key.replace(/[\\/:*?"<>|\x00-\x1f]/g, '_') || 'value';
  $('value').replaceChildren(renderValue(entry));
}

function renderValue(entry) {
  const media = mediaType(entry.type);
  if (IMAGE_TYPES.has(media)) {
    // An image element never runs script, SVG included.
    const image = document.createElement('img');
    image.alt = `${entry.key} (${media})`;
    image.src = objectUrl(entry.bytes, media);
    return image;
  }
  if (isJson(entry.type)) {
    const text = decodeText(entry.bytes);
    let value;
    try {
      value = text === null ? undefined : JSON.parse(text);
    } catch (_) { value = undefined; }
    if (value !== undefined) {
      if (entry.bytes.length > RICH_JSON_BYTES) return pre(JSON.stringify(value, null, 2), 'json-plain');
      const tree = document.createElement('div');
      tree.className = 'json';
      tree.append(jsonNode(value, undefined, true));
      return tree;
    }
    return withNote('Declared as JSON but not valid JSON; shown as text.', text === null ? hexDump(entry.bytes) : pre(text));
  }
  if (isText(entry.type)) {
    const text = decodeText(entry.bytes);
    if (text !== null) return pre(text, 'text');
    return withNote('Declared as text but not valid UTF-8; shown as bytes.', hexDump(entry.bytes));
  }
  return hexDump(entry.bytes);
}

function pre(text, className) {
  const block = document.createElement('pre');
  if (className) block.className = className;
  block.textContent = text;
  return block;
}

function withNote(note, content) {
  const wrap = document.createElement('div');
  const line = document.createElement('p');
  line.className = 'muted';
  line.textContent = note;
  wrap.append(line, content);
  return wrap;
}

// A collapsible, indented view of a JSON value; every string is text.
function jsonNode(value, label, last) {
  const comma = last ? '' : ',';
  const prefix = () => {
    const parts = [];
    if (label !== undefined) {
      const key = document.createElement('span');
      key.className = 'key';
      key.textContent = JSON.stringify(label);
      parts.push(key, ': ');
    }
    return parts;
  };
  if (value !== null && typeof value === 'object') {
    const array = Array.isArray(value);
    const entries = array ? value.map((item, index) => [undefined, item, index]) : Object.entries(value).map(([k, v], index) => [k, v, index]);
    const [open, close] = array ? ['[', ']'] : ['{', '}'];
    if (entries.length === 0) {
      const line = document.createElement('div');
      line.className = 'line';
      line.append(...prefix(), `${open}${close}${comma}`);
      return line;
    }
    const details = document.createElement('details');
    details.open = true;
    const summary = document.createElement('summary');
    summary.append(...prefix(), open);
    const count = document.createElement('span');
    count.className = 'muted count';
    const noun = array ? 'item' : 'key';
    count.textContent = ` ${entries.length} ${noun}${entries.length === 1 ? '' : 's'}`;
    summary.append(count);
    details.append(summary);
    for (const [key, item, index] of entries) {
      details.append(jsonNode(item, key, index === entries.length - 1));
    }
    const end = document.createElement('div');
    end.textContent = `${close}${comma}`;
    details.append(end);
    return details;
  }
  const line = document.createElement('div');
  line.className = 'line';
  const scalar = document.createElement('span');
  scalar.className = value === null ? 'null' : typeof value;
  scalar.textContent = JSON.stringify(value);
  line.append(...prefix(), scalar, comma);
  return line;
}

function hexDump(bytes) {
  const shown = bytes.subarray(0, HEX_BYTES);
  const lines = [];
  for (let offset = 0; offset < shown.length; offset += 16) {
    const row = shown.subarray(offset, offset + 16);
    const hex = Array.from(row, (byte) => byte.toString(16).padStart(2, '0')).join(' ');
    const ascii = Array.from(row, (byte) => (byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : '.')).join('');
    lines.push(`${offset.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`);
  }
  const dump = pre(lines.join('\n'), 'hex');
  if (bytes.length <= HEX_BYTES) return dump;
  return withNote(`The first ${formatBytes(HEX_BYTES)} of ${formatBytes(bytes.length)}; download for the rest.`, dump);
}

// ---- writes ---------------------------------------------------------------

function openEditor(mode) {
  const entry = state.entry;
  state.editing = mode === 'edit'
    ? { mode, key: entry.key, etag: entry.etag }
    : { mode, key: '', etag: null };
  $('editor-title').textContent = mode === 'edit' ? `Edit ${entry.key}` : 'New key';
  $('editor-key').value = mode === 'edit' ? entry.key : state.prefix;
  $('editor-key').disabled = mode === 'edit';
  $('editor-type').value = mode === 'edit' ? entry.type : 'text/plain; charset=utf-8';
  $('editor-ttl').value = mode === 'edit' && entry.ttl !== null ? entry.ttl : '';
  $('editor-file').value = '';
  const text = mode === 'edit' ? decodeText(entry.bytes) : '';
  const value = $('editor-value');
  value.value = text === null ? '' : text;
  value.disabled = false;
  value.placeholder = text === null ? 'The value is binary: upload a file to replace it.' : '';
  showPanel('editor');
  (mode === 'edit' ? value : $('editor-key')).focus();
}

function fileChosen() {
  const file = $('editor-file').files[0];
  $('editor-value').disabled = Boolean(file);
  if (file) $('editor-type').value = file.type || 'application/octet-stream';
}

async function editorBody() {
  const file = $('editor-file').files[0];
  if (file) return new Uint8Array(await file.arrayBuffer());
  if (state.editing.mode === 'edit' && decodeText(state.entry.bytes) === null && $('editor-value').value === '') {
    return state.entry.bytes; // a binary value kept as it was (its type or expiry edited)
  }
  return new TextEncoder().encode($('editor-value').value);
}

async function save(event) {
  event.preventDefault();
  const editing = state.editing;
  const key = editing.mode === 'edit' ? editing.key : $('editor-key').value;
  if (!key) {
    notice('A key needs a name.');
    return;
  }
  const write = {
    key,
    type: $('editor-type').value || 'application/octet-stream',
    ttl: $('editor-ttl').value,
    body: await editorBody(),
  };
  if (editing.mode === 'create') {
    const response = await api(keyUrl(key, write.ttl), {
      method: 'POST', headers: { 'Content-Type': write.type }, body: write.body,
    });
    if (response.status === 201) {
      notice(`Created ${key} (version ${versionOf(response.headers.get('etag'))}).`, true);
      await Promise.all([openKey(key), loadPage()]);
    } else {
      notice(await errorText(response));
    }
    return;
  }
  await update(write, editing.etag);
}

// A PUT guarded by the version the user saw: a key changed meanwhile is
// shown as a conflict with its current value, never overwritten silently.
async function update(write, etag) {
  const headers = { 'Content-Type': write.type };
  if (etag) headers['If-Match'] = etag;
  const response = await api(keyUrl(write.key, write.ttl), { method: 'PUT', headers, body: write.body });
  if (response.ok) {
    notice(`Saved ${write.key} (version ${versionOf(response.headers.get('etag'))}).`, true);
    state.pending = null;
    await openKey(write.key);
    return;
  }
  if (response.status === 412 || response.status === 404) {
    await showConflict(write);
    return;
  }
  notice(await errorText(response));
}

async function showConflict(write) {
  const current = await fetchEntry(write.key);
  state.pending = { write, current };
  showPanel('conflict');
  notice('');
  if (current === null) {
    $('conflict-text').textContent = `${write.key} was deleted by someone else since you opened it. Your change was not saved.`;
    $('conflict-value').textContent = '';
    $('conflict-overwrite').textContent = 'Create it again with mine';
  } else {
    $('conflict-text').textContent = `${write.key} is now at version ${current.version} (${current.type}, ${formatBytes(current.bytes.length)}); your change was not saved. Its current value:`;
    const text = decodeText(current.bytes);
    $('conflict-value').textContent = text === null ? `(${current.bytes.length} bytes of binary data)` : text;
    $('conflict-overwrite').textContent = 'Save mine over it';
  }
}

async function overwrite() {
  const { write, current } = state.pending;
  if (current === null) {
    const response = await api(keyUrl(write.key, write.ttl), {
      method: 'POST', headers: { 'Content-Type': write.type }, body: write.body,
    });
    if (response.status === 201) {
      notice(`Created ${write.key} again.`, true);
      state.pending = null;
      await Promise.all([openKey(write.key), loadPage()]);
    } else if (response.status === 409) {
      await showConflict(write);
    } else {
      notice(await errorText(response));
    }
    return;
  }
  await update(write, current.etag);
}

async function deleteEntry() {
  const entry = state.entry;
  const response = await api(keyUrl(entry.key), { method: 'DELETE', headers: { 'If-Match': entry.etag } });
  if (response.ok) {
    notice(`Deleted ${entry.key}.`, true);
    state.entry = null;
    showPanel('empty');
    await loadPage();
  } else if (response.status === 412 || response.status === 404) {
    notice(`${entry.key} changed since you opened it; nothing was deleted. It is shown as it is now.`);
    await openKey(entry.key);
  } else {
    notice(await errorText(response));
  }
}

// Sets or clears the expiry by writing the same bytes back under the version
// shown (the REST API sets expiry with a write), so a change made meanwhile
// is reported, not undone.
async function setExpiry(ttl) {
  const entry = state.entry;
  const response = await api(keyUrl(entry.key, ttl), {
    method: 'PUT', headers: { 'Content-Type': entry.type, 'If-Match': entry.etag }, body: entry.bytes,
  });
  if (response.ok) {
    notice(ttl ? `${entry.key} expires in ${ttl} s.` : `${entry.key} no longer expires.`, true);
    await openKey(entry.key);
  } else if (response.status === 412 || response.status === 404) {
    notice(`${entry.key} changed since you opened it; its expiry was not changed. It is shown as it is now.`);
    await openKey(entry.key);
  } else {
    notice(await errorText(response));
  }
}

// ---- the guest ---------------------------------------------------------------

async function loadGuest() {
  const response = await api('/status');
  if (!response.ok) {
    notice(await errorText(response));
    return;
  }
  const status = await response.json();
  fillGuest($('guest-current'), status.current);
  fillGuest($('guest-previous'), status.previous);
  $('rollback').disabled = !status.previous;
}

function fillGuest(row, guest) {
  const cell = (name) => row.querySelector(`.${name}`);
  cell('generation').textContent = guest ? String(guest.generation) : '—';
  cell('digest').textContent = guest ? guest.digest : '';
  cell('source').textContent = guest ? guest.source : '';
  cell('loaded').textContent = guest ? new Date(guest.loaded_at_unix_ms).toLocaleString() : '';
}

async function guestAction(path, init, doing) {
  const result = $('guest-result');
  result.className = '';
  result.textContent = doing;
  const response = await api(path, { method: 'POST', ...init });
  if (response.ok) {
    const outcome = await response.json();
    result.textContent = outcome.status === 'swapped'
      ? `Swapped: generation ${outcome.generation} serves now (digest ${outcome.digest}).`
      : `Unchanged: that component is the one serving (generation ${outcome.generation}).`;
  } else {
    result.className = 'error';
    result.textContent = `Rejected: ${await errorText(response)}`;
  }
  await loadGuest();
}

async function swap(event) {
  event.preventDefault();
  const file = $('component').files[0];
  if (!file) return;
  await guestAction('/reload', { headers: { 'Content-Type': 'application/wasm' }, body: file }, `Loading ${file.name}…`);
  $('component').value = '';
}

// ---- live figures -------------------------------------------------------

// The samples of an OpenMetrics text: [{name, labels, value}].
function parseMetrics(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels = {};
    for (const [, name, value] of (match[2] || '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[name] = value;
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

function sum(samples, name, keep = () => true) {
  return samples.filter((s) => s.name === name && keep(s.labels)).reduce((total, s) => total + s.value, 0);
}

function reading(samples) {
  const buckets = samples
    .filter((s) => s.name === 'kvs_http_request_duration_seconds_bucket')
    .map((s) => ({ le: s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), count: s.value }))
    .sort((a, b) => a.le - b.le);
  return {
    at: Date.now(),
    requests: sum(samples, 'kvs_http_requests_total'),
    errors: sum(samples, 'kvs_http_requests_total', (l) => String(l.status).startsWith('5')) +
      sum(samples, 'kvs_guest_failures_total'),
    commands: sum(samples, 'kvs_tcp_commands_total'),
    buckets,
    keys: sum(samples, 'kvs_store_keys'),
    bytes: sum(samples, 'kvs_store_bytes'),
    generation: sum(samples, 'kvs_guest_generation'),
  };
}

// A quantile of the requests between two readings, from the histogram's
// buckets, interpolated within the bucket it falls in (as Prometheus does).
function quantile(q, before, after) {
  const counts = after.buckets.map((bucket, i) => ({
    le: bucket.le, count: bucket.count - (before.buckets[i] ? before.buckets[i].count : 0),
  }));
  const total = counts.length ? counts[counts.length - 1].count : 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const bucket of counts) {
    if (bucket.count >= rank) {
      if (bucket.le === Infinity) return lower;
      const inside = bucket.count - below;
      return inside > 0 ? lower + (bucket.le - lower) * ((rank - below) / inside) : bucket.le;
    }
    lower = bucket.le;
    below = bucket.count;
  }
  return lower;
}

async function poll() {
  if (!state.signedIn) return;
  let now;
  try {
    const response = await api('/metrics');
    if (!response.ok) return;
    now = reading(parseMetrics(await response.text()));
  } catch (error) {
    failed(error);
    return;
  }
  $('summary').textContent = `${now.keys.toLocaleString('en')} keys · ${formatBytes(now.bytes)} · guest generation ${now.generation}`;
  const before = state.previousSample;
  state.previousSample = now;
  if (!before) return;
  const seconds = Math.max((now.at - before.at) / 1000, 0.001);
  state.history.push({
    rps: Math.max(now.requests - before.requests, 0) / seconds,
    cps: Math.max(now.commands - before.commands, 0) / seconds,
    p50: quantile(0.5, before, now),
    p99: quantile(0.99, before, now),
    errors: Math.max(now.errors - before.errors, 0) / seconds,
    keys: now.keys,
    bytes: now.bytes,
  });
  if (state.history.length > HISTORY) state.history.shift();
  if (!$('view-live').hidden) drawCharts();
}

function drawCharts() {
  const last = state.history[state.history.length - 1];
  const ms = (seconds) => (seconds === null ? '–' : `${(seconds * 1000).toFixed(2)} ms`);
  $('live-rps').textContent = last ? `${last.rps.toFixed(0)} HTTP/s · ${last.cps.toFixed(0)} TCP/s` : '';
  $('live-latency').textContent = last ? `${ms(last.p50)} / ${ms(last.p99)}` : '';
  $('live-errors').textContent = last ? last.errors.toFixed(1) : '';
  $('live-keys').textContent = last ? last.keys.toLocaleString('en') : '';
  $('live-bytes').textContent = last ? formatBytes(last.bytes) : '';
  chart($('chart-rps'), [['rps', '#2458c6'], ['cps', '#7a3e9d']], (v) => v.toFixed(0));
  chart($('chart-latency'), [['p50', '#2458c6'], ['p99', '#b42318']], ms);
  chart($('chart-errors'), [['errors', '#b42318']], (v) => v.toFixed(1));
  chart($('chart-keys'), [['keys', '#1e6b35']], (v) => v.toFixed(0));
  chart($('chart-bytes'), [['bytes', '#1e6b35']], formatBytes);
}

function chart(canvas, series, label) {
  const scale = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.width;
  const height = canvas.clientHeight || canvas.height;
  canvas.width = width * scale;
  canvas.height = height * scale;
  const g = canvas.getContext('2d');
  g.scale(scale, scale);
  g.clearRect(0, 0, width, height);
  const values = state.history.flatMap((point) => series.map(([name]) => point[name]).filter((v) => v !== null));
  const top = Math.max(...values, 0) * 1.1 || 1;
  g.fillStyle = '#6b7280';
  g.font = '11px system-ui, sans-serif';
  g.fillText(label(top), 4, 12);
  for (const [name, color] of series) {
    g.strokeStyle = color;
    g.lineWidth = 1.5;
    g.beginPath();
    let drawing = false;
    state.history.forEach((point, i) => {
      const value = point[name];
      if (value === null) { drawing = false; return; }
      const x = (i / (HISTORY - 1)) * width;
      const y = height - (value / top) * (height - 16);
      if (drawing) g.lineTo(x, y); else g.moveTo(x, y);
      drawing = true;
    });
    g.stroke();
  }
}

function formatBytes(bytes) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

// ---- wiring ---------------------------------------------------------------

function on(id, type, handler) {
  $(id).addEventListener(type, (event) => {
    Promise.resolve(handler(event)).catch(failed);
  });
}

function wire() {
  for (const tab of document.querySelectorAll('.tab')) {
    tab.addEventListener('click', () => showView(tab.dataset.view));
  }
  on('sign-in-form', 'submit', signIn);
  on('sign-out', 'click', signOut);
  // Typing searches after a pause; Enter or the button searches at once and drops
  // the pending one, which would otherwise send the reader back to page 1 later.
  let typing = null;
  on('search-form', 'submit', (event) => {
    event.preventDefault();
    clearTimeout(typing);
    return search($('prefix').value);
  });
  $('prefix').addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(() => search($('prefix').value).catch(failed), 250);
  });
  on('next-page', 'click', nextPage);
  on('prev-page', 'click', previousPage);
  on('keys', 'click', (event) => {
    const button = event.target.closest('button[data-key]');
    return button ? openKey(button.dataset.key) : undefined;
  });
  on('new-key', 'click', () => openEditor('create'));
  on('edit', 'click', () => openEditor('edit'));
  on('cancel', 'click', () => (state.entry ? renderEntry(state.entry) : showPanel('empty')));
  on('editor-file', 'change', fileChosen);
  on('editor', 'submit', save);
  on('delete', 'click', () => { $('confirm-delete').hidden = false; });
  on('confirm-delete-no', 'click', () => { $('confirm-delete').hidden = true; });
  on('confirm-delete-yes', 'click', deleteEntry);
  on('expiry-form', 'submit', (event) => {
    event.preventDefault();
    const ttl = $('ttl').value;
    return ttl ? setExpiry(ttl) : undefined;
  });
  on('persist', 'click', () => setExpiry(''));
  on('conflict-overwrite', 'click', overwrite);
  on('conflict-reload', 'click', () => {
    const key = state.pending.write.key;
    state.pending = null;
    return openKey(key);
  });
  on('swap-form', 'submit', swap);
  on('rollback', 'click', () => guestAction('/rollback', {}, 'Rolling back…'));
}

wire();
start();
