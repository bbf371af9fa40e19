// jifen's service worker: keeps the pages a cadre scores on, so they open without signal, and posts the
// outbox when the connection returns even with every page closed (Background Sync).
//
// Pages are fetched from the network first and kept when they load; without a connection the kept copy
// is shown. Only the staff's scoring pages, /staff/offline.json and the static files are kept, and all of
// them are dropped when the user signs out. Forms are never answered from here: an award made offline is
// kept by the page's outbox (static/outbox.js), which this worker imports to send what waits.
import { SYNC_TAG, sendWaiting } from '/static/outbox.js?v=3';

var CACHE = 'jifen-offline-v1';
var KEPT = /^\/(staff\/households(\/[0-9a-f-]{36})?|staff\/inspections(\/[0-9a-f-]{36})?|staff\/offline\.json|static\/.+)$/;
var PRIME_EVERY_MS = 5 * 60 * 1000;
var lastPrimed = 0;
var generation = 0;  // counts sign-outs: a keeping pass that began before one keeps nothing after it

self.addEventListener('install', function () {
  self.skipWaiting();
});

self.addEventListener('activate', function (event) {
  event.waitUntil(
    caches.keys().then(function (names) {
      return Promise.all(names.filter(function (n) { return n !== CACHE; }).map(function (n) { return caches.delete(n); }));
    }).then(function () { return self.clients.claim(); })
  );
});

self.addEventListener('fetch', function (event) {
  var request = event.request;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.method === 'POST' && url.pathname === '/logout') {
    event.waitUntil(forget());  // another person may sign in on this phone next
    return;
  }
  if (request.method !== 'GET' || !KEPT.test(url.pathname)) return;
  event.respondWith(networkFirst(request));
});

function keepable(response) {
  // a redirect (to the sign-in page) or a refusal is never kept
  return response.ok && response.type === 'basic' && !response.redirected;
}

async function networkFirst(request) {
  var cache = await caches.open(CACHE);
  try {
    var response = await fetch(request);
    if (keepable(response)) await cache.put(request, response.clone());
    return response;
  } catch (offline) {
    var kept = (await cache.match(request)) || (await cache.match(request, { ignoreSearch: true }));
    if (kept) return kept;
    if (request.mode !== 'navigate') throw offline;
    return new Response(
      '<!doctype html><html lang="zh-CN"><meta charset="utf-8"><meta name="viewport" content="width=device-width">' +
        '<title>没有网络 · 积分制</title><h1>现在没有网络</h1><p>这个页面还没有存到手机上。' +
        '请回到“找农户”页面继续评分，联网后再打开这个页面。</p><p><a href="/staff/households">找农户</a></p>',
      { status: 503, headers: { 'Content-Type': 'text/html; charset=utf-8' } }
    );
  }
}

// The outbox asks for the cadre's pages to be kept (at most every few minutes): the household list of their
// grid, each household's award page not kept yet, and the households and rules as JSON. One at a time, so a
// village's server is not flooded.
// Never follows a redirect: signed out, the server sends every page to the sign-in page, and loading that
// page in the background would hand the phone a new sign-in token under the form the person is filling.
async function prime() {
  var mine = generation;
  var cache = await caches.open(CACHE);
  var manual = { credentials: 'same-origin', redirect: 'manual' };
  var response = await fetch('/staff/offline.json', manual);
  if (!keepable(response) || mine !== generation) return false;
  await cache.put('/staff/offline.json', response.clone());
  var kit = await response.json();
  for (var i = 0; i < kit.pages.length; i++) {
    var path = kit.pages[i];
    if (i > 0 && (await cache.match(path))) continue;  // the list is fetched afresh, a household page once
    var page = await fetch(path, manual);
    if (page.type === 'opaqueredirect' || mine !== generation) return false;  // signed out meanwhile: stop
    if (keepable(page)) await cache.put(path, page);
  }
  return true;
}

async function forget() {
  generation += 1;
  await caches.delete(CACHE);
  lastPrimed = 0;
}

self.addEventListener('message', function (event) {
  if (!event.data || event.data.type !== 'prime') return;
  var source = event.source;
  var fresh = Date.now() - lastPrimed < PRIME_EVERY_MS;
  event.waitUntil(
    (fresh ? Promise.resolve(true) : prime()).then(function (ready) {
      if (ready && !fresh) lastPrimed = Date.now();
      if (source) source.postMessage({ type: 'primed', ready: ready });
    }).catch(function () {
      if (source) source.postMessage({ type: 'primed', ready: false });
    })
  );
});

// the connection is back (Background Sync, Chromium): send what waits, in order; a throw asks the browser
// to try again later
self.addEventListener('sync', function (event) {
  if (event.tag !== SYNC_TAG) return;
  event.waitUntil(
    sendWaiting().then(async function (outcome) {
      var pages = await self.clients.matchAll({ type: 'window' });
      pages.forEach(function (page) { page.postMessage({ type: 'sent' }); });
      if (outcome === 'offline' || outcome === 'busy') throw new Error('the outbox waits: ' + outcome);
    })
  );
});
