// The browser client's queue, batching, retry and multi-tab rules, in Node with fake browser
// parts (localStorage, Web Locks, fetch, sendBeacon). tests/test_js_client.py runs the same
// module in headless Chromium against the real ingest.
import assert from "node:assert/strict";
import { afterEach, beforeEach, test } from "node:test";

import { Beacon } from "../beacon.js";

class FakeStorage {
  constructor() {
    this.items = new Map();
  }
  get length() {
    return this.items.size;
  }
  key(i) {
    return [...this.items.keys()][i] ?? null;
  }
  getItem(key) {
    return this.items.get(key) ?? null;
  }
  setItem(key, value) {
    if (this.full) throw new DOMException("quota", "QuotaExceededError");
    this.items.set(key, String(value));
  }
  removeItem(key) {
    this.items.delete(key);
  }
}

// navigator.locks as browsers grant it: one holder per name; ifAvailable answers null at once.
class FakeLocks {
  constructor() {
    this.held = new Set();
  }
  async request(name, options, callback) {
    if (this.held.has(name)) return callback(null);
    this.held.add(name);
    try {
      return await callback({ name });
    } finally {
      this.held.delete(name);
    }
  }
}

let sent; // the bodies fetch and sendBeacon were given, parsed
let answers; // statuses fetch answers, in turn (then 200)
let beaconRefusals;

function answer(status, headers = {}) {
  return { status, headers: { get: (name) => headers[name] ?? null } };
}

beforeEach(() => {
  sent = [];
  answers = [];
  beaconRefusals = 0;
  globalThis.localStorage = new FakeStorage();
  const browser = {
    locks: new FakeLocks(),
    onLine: true,
    userAgent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36",
    language: "de-DE",
    sendBeacon(url, body) {
      if (beaconRefusals > 0 && beaconRefusals-- > 0) return false;
      assert.ok(new TextEncoder().encode(body).length < 64 * 1024, "sendBeacon takes < 64 KB");
      sent.push({ url, via: "beacon", ...JSON.parse(body) });
      return true;
    },
  };
  Object.defineProperty(globalThis, "navigator", { value: browser, configurable: true });
  globalThis.fetch = async (url, init) => {
    const status = answers.shift() ?? 200;
    if (status === 0) throw new TypeError("Failed to fetch");
    sent.push({ url, via: "fetch", init, ...JSON.parse(init.body) });
    return typeof status === "number" ? answer(status) : answer(status.status, status.headers);
  };
});

let clients = [];
afterEach(() => {
  for (const beacon of clients) clearTimeout(beacon.timer); // a pending flush would keep Node up
  clients = [];
});

const client = (options = {}) => {
  const beacon = new Beacon({ writeKey: "k1", host: "https://ingest.example/", flushInterval: 1e6, ...options });
  clients.push(beacon);
  return beacon;
};
const ids = (bodies) => bodies.flatMap((body) => body.events.map((event) => event.event_id));
const queued = () => [...localStorage.items.keys()].filter((key) => key.startsWith("beacon.e."));

test("an event carries Beacon's fields, its ids and the page's context", () => {
  const beacon = client();
  const id = beacon.track("search", { duration_ms: 120, properties: { query: "plumber" } });
  const [key] = queued();
  const { event } = JSON.parse(localStorage.getItem(key));
  assert.equal(event.event_id, id);
  assert.equal(event.event_type, "search");
  assert.equal(event.platform, "web");
  assert.equal(event.duration_ms, 120);
  assert.deepEqual(event.properties, { query: "plumber" });
  assert.match(event.anonymous_id, /^[0-9a-f-]{36}$/);
  assert.match(event.session_id, /^[0-9a-f-]{36}$/);
  assert.ok(Date.parse(event.timestamp) > 0);
  assert.equal(event.context.locale, "de-DE");
  assert.match(event.context.user_agent, /Chrome/);
  assert.equal(event.user_id, undefined);
});

test("the anonymous id, session and user id outlive the page; reset starts a new visitor", () => {
  const first = client();
  first.identify("u-1", { plan: "pro" });
  const second = client();
  assert.equal(second.anonymousId, first.anonymousId);
  assert.equal(second.userId, "u-1");
  assert.equal(second.session(), first.session());
  second.reset();
  assert.equal(client().userId, null);
  assert.notEqual(client().anonymousId, first.anonymousId);
});

test("a session ends after sessionTimeout without an event", async () => {
  const beacon = client({ sessionTimeout: 20 });
  const first = beacon.session();
  assert.equal(beacon.session(), first);
  await new Promise((resolve) => setTimeout(resolve, 40));
  assert.notEqual(beacon.session(), first);
});

test("identify and page send Beacon's conventional events", () => {
  globalThis.location = { href: "https://shop.example/docs", pathname: "/docs" };
  try {
    const beacon = client();
    beacon.identify("u-1", { plan: "pro" });
    beacon.page();
    const events = queued().map((key) => JSON.parse(localStorage.getItem(key)).event);
    assert.deepEqual(
      events.map((e) => [e.event_type, e.user_id, e.properties.screen ?? e.properties.plan]),
      [
        ["identify", "u-1", "pro"],
        ["page_view", "u-1", "/docs"],
      ],
    );
    assert.equal(events[1].context.page_url, "https://shop.example/docs");
  } finally {
    delete globalThis.location;
  }
});

test("a flush posts one batch with sent_at, the key in the URL and no preflight", async () => {
  const beacon = client();
  const tracked = [beacon.track("a"), beacon.track("b")];
  await beacon.flush();
  assert.equal(sent.length, 1);
  assert.equal(sent[0].url, "https://ingest.example/v1/batch?key=k1");
  assert.deepEqual(sent[0].init.headers, { "Content-Type": "text/plain" });
  assert.equal(sent[0].init.keepalive, true);
  assert.ok(Date.parse(sent[0].sent_at) > 0);
  assert.deepEqual(ids(sent), tracked);
  assert.deepEqual(queued(), []);
});

test("batchSize events start a flush at once", async () => {
  const beacon = client({ batchSize: 3 });
  beacon.track("a");
  beacon.track("b");
  assert.equal(sent.length, 0);
  beacon.track("c");
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(ids(sent).length, 3);
});

test("a fault keeps the events, backs off at least Retry-After, and resends the same ids", async () => {
  const beacon = client();
  const tracked = [beacon.track("a"), beacon.track("b")];
  answers = [{ status: 503, headers: { "Retry-After": "2" } }];
  await beacon.flush();
  assert.equal(queued().length, 2);
  assert.ok(beacon.resume - Date.now() > 1500, "waits out Retry-After");
  await beacon.flush(); // too early: deferred, nothing sent
  assert.equal(sent.length, 1);
  beacon.resume = 0;
  answers = [0]; // the network fails
  await beacon.flush();
  assert.equal(queued().length, 2);
  beacon.resume = 0;
  await beacon.flush();
  assert.deepEqual(ids(sent), [...tracked, ...tracked]); // the first was kept: dedup on event id
  assert.deepEqual(queued(), []);
  assert.equal(beacon.attempt, 0);
});

test("the backoff grows and is capped by maxBackoff", async () => {
  const beacon = client({ maxBackoff: 3000 });
  beacon.track("a");
  const pauses = [];
  for (let i = 0; i < 8; i++) {
    answers = [500];
    beacon.resume = 0;
    const before = Date.now();
    await beacon.flush();
    pauses.push(beacon.resume - before);
  }
  assert.ok(pauses.every((pause) => pause <= 3000 + 5));
  assert.equal(beacon.attempt, 8);
});

test("what ingest refuses for good is not retried: 400 was kept as bad events, 401 counted", async () => {
  const beacon = client();
  beacon.track("a");
  answers = [400];
  await beacon.flush();
  beacon.track("b");
  answers = [401];
  await beacon.flush();
  assert.deepEqual(queued(), []);
  assert.equal(beacon.failed, 1);
});

test("leaving the page hands everything to sendBeacon in chunks under 64 KB", () => {
  const beacon = client({ batchSize: 1000 });
  const text = "x".repeat(1000);
  const tracked = Array.from({ length: 200 }, (_, i) => beacon.track("e", { properties: { i, text } }));
  beacon.leave();
  assert.ok(sent.length >= 4, `${sent.length} chunks`);
  assert.ok(sent.every((body) => body.via === "beacon" && body.events.length <= 500));
  assert.deepEqual(ids(sent), tracked); // each once, oldest first
  assert.deepEqual(queued(), []);
});

test("what sendBeacon refuses, or an offline browser, stays queued for the next page", () => {
  const beacon = client({ batchSize: 1000 });
  const text = "x".repeat(1000);
  for (let i = 0; i < 120; i++) beacon.track("e", { properties: { text } });
  beaconRefusals = 0;
  const browser = globalThis.navigator;
  browser.onLine = false;
  beacon.leave();
  assert.equal(sent.length, 0);
  browser.onLine = true;
  const accept = browser.sendBeacon;
  let calls = 0;
  browser.sendBeacon = (url, body) => ++calls === 1 && accept(url, body); // quota after one
  beacon.leave();
  assert.equal(queued().length, 120 - sent[0].events.length);
});

test("an event over the chunk size goes by fetch without keepalive (ingest answers 400)", async () => {
  const beacon = client();
  beacon.track("big", { properties: { text: "x".repeat(70000) } });
  beacon.leave();
  assert.equal(sent.length, 0);
  answers = [400];
  await beacon.flush();
  assert.equal(sent[0].init.keepalive, false);
  assert.deepEqual(queued(), []);
});

test("two tabs share one queue and send each event once", async () => {
  const tabs = [client(), client(), client()];
  const tracked = [];
  for (let i = 0; i < 30; i++) tracked.push(tabs[i % 3].track("e", { properties: { i } }));
  let release;
  const slow = new Promise((resolve) => (release = resolve));
  const plain = globalThis.fetch;
  globalThis.fetch = async (url, init) => {
    await slow;
    return plain(url, init);
  };
  const flushes = tabs.map((tab) => tab.flush()); // one holds the lock, the others defer
  for (let i = 30; i < 36; i++) tracked.push(tabs[i % 3].track("e", { properties: { i } }));
  tabs[1].leave(); // a tab leaves mid-request: the claimed batch is not its to send
  release();
  await Promise.all(flushes);
  await tabs[2].flush();
  assert.deepEqual(ids(sent).sort(), [...tracked].sort());
  assert.equal(new Set(ids(sent)).size, 36);
});

test("a batch claimed by a tab that died is sent again when the claim ends", async () => {
  const dead = client();
  const id = dead.track("a");
  globalThis.fetch = () => new Promise(() => {}); // the tab is gone before any answer
  dead.flush();
  await new Promise((resolve) => setTimeout(resolve, 5));
  const [key] = queued();
  const claim = JSON.parse(localStorage.getItem(key));
  assert.ok(claim.until > Date.now());
  const other = client();
  other.leave();
  assert.equal(sent.length, 0, "claimed: not the other tab's to send yet");
  localStorage.setItem(key, JSON.stringify({ ...claim, until: Date.now() - 1 }));
  other.leave();
  assert.deepEqual(ids(sent), [id]);
});

test("a full queue drops the oldest events and counts them", () => {
  const beacon = client({ maxQueue: 5 });
  const tracked = Array.from({ length: 8 }, () => beacon.track("e"));
  const kept = queued().map((key) => JSON.parse(localStorage.getItem(key)).event.event_id);
  assert.deepEqual(kept, tracked.slice(3));
  assert.equal(beacon.dropped, 3);
});

test("without localStorage (blocked or full) events wait in memory", async () => {
  Object.defineProperty(globalThis, "localStorage", {
    get() {
      throw new DOMException("denied", "SecurityError");
    },
    configurable: true,
  });
  try {
    const beacon = client();
    const id = beacon.track("a");
    await beacon.flush();
    assert.deepEqual(ids(sent), [id]);
  } finally {
    delete globalThis.localStorage;
  }
  globalThis.localStorage = new FakeStorage();
  localStorage.full = true;
  const beacon = client();
  const id = beacon.track("b");
  await beacon.flush();
  assert.deepEqual(ids(sent).slice(1), [id]);
});

test("without Web Locks a tab still sends", async () => {
  globalThis.navigator.locks = undefined;
  const beacon = client();
  const id = beacon.track("a");
  await beacon.flush();
  assert.deepEqual(ids(sent), [id]);
});

test("a write key is required", () => {
  assert.throws(() => new Beacon({}), /writeKey is required/);
});
