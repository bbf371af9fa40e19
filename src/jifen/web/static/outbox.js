// The outbox (待上传): awards and inspection sheets scored without signal wait on the phone and are posted,
// in the order they were made, when the connection returns.
//
// A form marked `data-offline` (the award form, the inspection sheet) posts as it always has while the
// phone is online and nothing is waiting. Offline (or behind waiting items, to keep their order) its
// fields are kept in IndexedDB with a key of their own (the form's Idempotency-Key) and the moment they
// were observed. Posting an item again after an answer was lost is safe: the server replays the first
// answer to the same key. An item the server refuses stays listed with its reason until the cadre removes
// it. Without JavaScript the forms work as before; this module only adds to them.
//
// The sending half also runs in the service worker (static/sw.js imports it): on Background Sync it posts
// what waits even when no page is open.

const DB_NAME = 'jifen-outbox';
const STORE = 'items';
export const SYNC_TAG = 'jifen-outbox';

// ---------------------------------------------------------------------------------------------- storage

function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: 'seq', autoIncrement: true });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function inStore(mode, work) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const request = work(tx.objectStore(STORE));
    tx.oncomplete = () => { db.close(); resolve(request.result); };
    tx.onerror = tx.onabort = () => { db.close(); reject(tx.error); };
  });
}

// the items, oldest first: one user's (another person's, on a shared phone, are neither shown nor sent)
async function itemsOf(user) {
  const all = await inStore('readonly', (items) => items.getAll());
  return user ? all.filter((item) => item.user === user) : all;
}
const add = (item) => inStore('readwrite', (items) => items.add(item));
const save = (item) => inStore('readwrite', (items) => items.put(item));
const drop = (seq) => inStore('readwrite', (items) => items.delete(seq));

// ---------------------------------------------------------------------------------------------- sending

const ENTITIES = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&#34;': '"', '&quot;': '"', '&#39;': "'" };

// the refusal as the page says it: its alert, the first field's error, or the refusal page's sentence
function reasonIn(html, status) {
  const said = /role="alert">([^<]+)</.exec(html) || /class="error"[^>]*>([^<]+)</.exec(html) || /<\/h1>\s*<p>([^<]+)</.exec(html);
  const text = said ? said[1].replace(/&(amp|lt|gt|#34|quot|#39);/g, (entity) => ENTITIES[entity]).trim() : '';
  return text || `服务器没有接受这条记录（${status}）`;
}

// posted; refused (kept with the reason); or why it waits: 'offline' (no answer), 'busy', 'login', 'session'
async function send(item, csrf, inWorker) {
  const body = new URLSearchParams(item.fields);
  body.set('csrf_token', csrf || item.csrf);
  body.set('idempotency_key', item.key);
  let response;
  try {
    response = await fetch(item.action, { method: 'POST', body, credentials: 'same-origin' });
  } catch (lost) {
    return 'offline';  // no answer: it may have arrived, and the same key makes the resend safe
  }
  const landed = new URL(response.url).pathname;
  if (response.redirected && (landed === '/login' || landed === '/password')) return 'login';
  if (response.ok) {
    await drop(item.seq);
    return 'posted';
  }
  if (response.status >= 500 || response.status === 429) return 'busy';
  // the worker sends with the page's token of when the item was made: a refused token (signed in again
  // since) waits for a page, which sends with its own
  if (inWorker && response.status === 403) return 'session';
  item.state = 'refused';
  item.reason = reasonIn(await response.text(), response.status);
  await save(item);
  return 'refused';
}

// Send what waits, in order, one sender at a time (the pages of every tab and the worker); stops at the
// first item that cannot be answered now and says why. `user` and `csrf`: a page's; none: the worker's.
export async function sendWaiting({ user = null, csrf = null, progress = () => {} } = {}) {
  const inWorker = !user;
  const run = async () => {
    for (const item of await itemsOf(user)) {
      if (item.state !== 'waiting') continue;
      progress();
      const outcome = await send(item, csrf, inWorker);
      if (outcome !== 'posted' && outcome !== 'refused') return outcome;
    }
    return 'done';
  };
  if (!navigator.locks) return run();
  return navigator.locks.request(SYNC_TAG, inWorker ? {} : { ifAvailable: true }, (lock) => (lock ? run() : 'busy'));
}

// ---------------------------------------------------------------------------------------------- the page

const box = typeof document === 'undefined' ? null : document.getElementById('outbox');
let waiting = 0;
let flushing = false;
let message = '';
let retryTimer = 0;
let retryDelay = 2000;
let lastKept = { signature: '', at: 0 };

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

function describe(form) {
  const label = form.dataset.label || '';
  const rule = form.querySelector('select[name=rule_id]');
  if (rule) {
    const name = rule.selectedOptions[0] ? rule.selectedOptions[0].textContent.split('（')[0].trim() : '';
    const times = form.querySelector('input[name=quantity]');
    const quantity = times && times.value.trim() !== '' && times.value.trim() !== '1' ? ` ×${times.value.trim()}` : '';
    return `${label}：${name}${quantity}`;
  }
  const cells = [...form.querySelectorAll('input.qty')].filter((cell) => cell.value.trim() !== '' && cell.value.trim() !== '0');
  return `${label}：${cells.length} 项评分`;
}

function fieldsOf(form) {
  return [...new FormData(form)]
    .filter(([name, value]) => name !== 'csrf_token' && name !== 'idempotency_key' && typeof value === 'string')
    .map(([name, value]) => [name, value]);
}

function keep(event) {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute('data-offline')) return;
  const observedAt = new Date().toISOString();
  const observed = form.querySelector('input[name=observed_at]');
  if (observed) observed.value = observedAt;
  if (navigator.onLine && waiting === 0) return;  // online, nothing waiting: the form posts as it always has
  event.preventDefault();
  const fields = fieldsOf(form);
  const signature = form.action + JSON.stringify(fields.filter(([name]) => name !== 'observed_at'));
  if (signature === lastKept.signature && Date.now() - lastKept.at < 3000) return;  // a double tap
  lastKept = { signature, at: Date.now() };
  waiting += 1;
  const item = {
    user: box.dataset.user,
    csrf: box.dataset.csrf,
    action: new URL(form.action).pathname,
    fields,
    key: newKey(),
    observedAt,
    label: describe(form),
    state: 'waiting',
    reason: '',
  };
  add(item).then(() => {
    form.reset();
    message = navigator.onLine ? '已保存，正在上传…' : '已存到这部手机上，联网后自动上传';
    window.scrollTo(0, 0);
    askForSync();
    return render();
  }).then(flush);
}

// Background Sync: the worker sends when the connection returns, even with every page closed
function askForSync() {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.ready.then((registration) => registration.sync && registration.sync.register(SYNC_TAG)).catch(() => {});
}

const WAITS = {
  offline: '网络不稳定：稍后自动重新上传',
  busy: '服务器暂时忙：稍后自动重新上传',
  login: '请先重新登录，登录后自动上传',
};

async function flush() {
  if (!box || flushing || !navigator.onLine) return;
  flushing = true;
  try {
    const progress = () => { message = '正在上传…'; render(); };
    const outcome = await sendWaiting({ user: box.dataset.user, csrf: box.dataset.csrf, progress });
    message = WAITS[outcome] || '';
    clearTimeout(retryTimer);
    if (outcome === 'offline' || outcome === 'busy') {
      retryTimer = setTimeout(flush, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 60000);
    } else {
      retryDelay = 2000;
    }
  } finally {
    flushing = false;
    await render();
  }
}

// What the server took since this page loaded (sent by this page or by the service worker): the page itself
// still shows the points as they were when it loaded, so the cadre is told to look again. A waiting item
// leaves the list only by being sent; a refused one stays listed with its reason until the cadre removes it.
let seen = null;
let posted = 0;

function told(waiting, refused) {
  if (seen && navigator.onLine) posted += Math.max(0, seen.waiting - waiting - Math.max(0, refused - seen.refused));
  seen = { waiting, refused };
  if (posted === 0) return;
  let note = document.getElementById('outbox-sent');
  if (!note) {
    note = element('p', 'card');
    note.id = 'outbox-sent';
    note.setAttribute('role', 'status');
    box.after(note);
  }
  const again = element('a', '', '刷新本页');
  again.href = window.location.pathname + window.location.search;
  note.replaceChildren(`已上传 ${posted} 条评分。`, again, ' 可看到最新积分。');
}

const WHEN = { month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false, timeZone: 'Asia/Shanghai' };

function element(tag, className, text) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  if (text) made.textContent = text;
  return made;
}

function row(item) {
  const li = element('li');
  const what = element('div', 'grow', item.label);
  const when = `记录于 ${new Date(item.observedAt).toLocaleString('zh-CN', WHEN)}`;
  what.append(element('div', 'muted', item.state === 'refused' ? `${when} · 未能上传` : `${when} · 等待上传`));
  if (item.state === 'refused') what.append(element('p', 'error', item.reason));
  li.append(what);
  if (item.state === 'refused') {
    const remove = element('button', 'small plain', '删除');
    remove.type = 'button';
    remove.dataset.remove = String(item.seq);
    remove.setAttribute('aria-label', `删除：${item.label}`);
    li.append(remove);
  }
  return li;
}

async function render() {
  const items = await itemsOf(box.dataset.user);
  waiting = items.filter((item) => item.state === 'waiting').length;
  told(waiting, items.filter((item) => item.state === 'refused').length);
  const offline = !navigator.onLine;
  box.hidden = items.length === 0 && !offline && !message;
  const heading = element('h2', '', '待上传 ');
  const count = element('strong', '', String(waiting));
  count.id = 'outbox-count';
  heading.append(count, ' 条');
  const status = element('p', 'muted', offline ? '现在没有网络：评分先存在这部手机上，联网后自动按顺序上传。' : message);
  const list = element('ul', 'list');
  list.append(...items.map(row));
  box.replaceChildren(heading, status, list);
}

if (box) {
  document.addEventListener('submit', keep);
  box.addEventListener('click', (event) => {
    const remove = event.target instanceof Element && event.target.closest('[data-remove]');
    if (remove) drop(Number(remove.dataset.remove)).then(render);
  });
  window.addEventListener('online', () => { retryDelay = 2000; flush(); });
  window.addEventListener('offline', render);
  render().then(flush);

  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.addEventListener('message', (event) => {
      if (!event.data) return;
      const ready = document.getElementById('offline-ready');
      if (event.data.type === 'primed' && event.data.ready && ready) ready.hidden = false;
      if (event.data.type === 'sent') render();  // the worker sent what waited
    });
    navigator.serviceWorker.startMessages();
    navigator.serviceWorker.register('/sw.js', { type: 'module' }).then(() => navigator.serviceWorker.ready).then((registration) => {
      // the scoring pages ask for the grid's pages to be kept; the admin's other pages do not
      const scoring = window.location.pathname.startsWith('/staff/');
      if (scoring && navigator.onLine && registration.active) registration.active.postMessage({ type: 'prime' });
    }).catch(() => {});  // no service worker (plain http on a LAN address): pages still work online
  }
}
