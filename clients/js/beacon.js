// Beacon's browser client: one ES module, no dependencies, no build step. See README.md.
//
// Events wait in localStorage, one key each, so a reload, a crash or a closed tab loses nothing
// and every tab of the site shares one queue. One tab at a time sends (a Web Lock); the events it
// sends are claimed for CLAIM_MS so a tab leaving the page does not send them too. Event ids are
// made here, so an event sent twice (a lost answer, a tab that died mid-request) counts once.

const CHUNK_BYTES = 60000; // sendBeacon and keepalive fetch refuse bodies over 64 KB
const MAX_EVENTS = 500; // ingest's limit per batch
const CLAIM_MS = 30000;
const FINAL = [400, 401, 403, 413]; // never retried; a 400 means ingest kept the events as bad

const nowMs = () => Date.now();
let sequence = 0; // orders a page's events of one millisecond
const iso = () => new Date().toISOString();
const size = (text) => new TextEncoder().encode(text).length;
const uuid = () =>
  crypto.randomUUID?.() ??
  "10000000-1000-4000-8000-100000000000".replace(/[018]/g, (c) =>
    (c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16),
  );

// localStorage under PREFIX, or memory where it is absent, disabled or full.
function store(prefix) {
  const memory = new Map();
  let local = null;
  try {
    local = globalThis.localStorage;
    local.getItem(prefix);
  } catch {
    local = null;
  }
  const guard = (read, fallback) => {
    try {
      return local ? read() : fallback;
    } catch {
      return fallback;
    }
  };
  return {
    get: (key) => memory.get(key) ?? guard(() => local.getItem(prefix + key), null),
    set(key, value) {
      if (guard(() => (local.setItem(prefix + key, value), true), false)) memory.delete(key);
      else memory.set(key, value);
    },
    del(key) {
      memory.delete(key);
      guard(() => local.removeItem(prefix + key));
    },
    keys(start) {
      const found = new Set(memory.keys());
      guard(() => {
        for (let i = 0; i < local.length; i++) {
          const key = local.key(i);
          if (key?.startsWith(prefix)) found.add(key.slice(prefix.length));
        }
      });
      return [...found].filter((key) => key.startsWith(start)).sort();
    },
  };
}

export class Beacon {
  constructor({
    writeKey,
    host = "",
    batchSize = 20,
    flushInterval = 3000,
    sessionTimeout = 1800000,
    maxQueue = 1000,
    maxBackoff = 60000,
    prefix = "beacon.",
  } = {}) {
    if (!writeKey) throw new Error("beacon: writeKey is required");
    this.url = `${host.replace(/\/$/, "")}/v1/batch?key=${encodeURIComponent(writeKey)}`;
    Object.assign(this, { batchSize, flushInterval, sessionTimeout, maxQueue, maxBackoff });
    this.lock = `${prefix}lock`;
    this.store = store(prefix);
    this.anonymousId = this.store.get("a") ?? this.put("a", uuid());
    this.userId = this.store.get("u");
    this.unsent = this.attempt = this.resume = this.dropped = this.failed = 0;
    const page = globalThis.document;
    globalThis.addEventListener?.("pagehide", () => this.leave());
    page?.addEventListener("visibilitychange", () => page.hidden && this.leave());
    globalThis.addEventListener?.("online", () => {
      this.resume = this.attempt = 0; // back online: no backoff
      this.flush();
    });
    this.later(0); // what an earlier page, or a tab since closed, left unsent
  }

  put(key, value) {
    this.store.set(key, value);
    return value;
  }

  // The session id, renewed after sessionTimeout ms without an event.
  session() {
    const [id, last] = (this.store.get("s") ?? "").split(" ");
    const now = nowMs();
    const current = id && now - last < this.sessionTimeout ? id : uuid();
    this.store.set("s", `${current} ${now}`);
    return current;
  }

  // Queue one event: TYPE is Beacon's event_type, FIELDS its typed fields (revenue, currency,
  // duration_ms, success, error_type, category, app_version, properties, context). Returns its id.
  track(type, fields = {}) {
    const where = globalThis.location;
    const event = {
      platform: "web",
      ...fields,
      event_type: type,
      event_id: uuid(),
      timestamp: iso(),
      anonymous_id: this.anonymousId,
      session_id: this.session(),
      context: {
        page_url: where?.href,
        referrer: globalThis.document?.referrer || undefined,
        user_agent: globalThis.navigator?.userAgent,
        locale: globalThis.navigator?.language,
        ...fields.context,
      },
    };
    if (this.userId) event.user_id ??= this.userId;
    const queued = this.store.keys("e.");
    for (const key of queued.slice(0, Math.max(0, queued.length + 1 - this.maxQueue))) {
      this.store.del(key); // full: the oldest go, counted
      this.dropped++;
    }
    const order = `${nowMs().toString(36)}${String(sequence++ % 1e4).padStart(4, "0")}`;
    this.store.set(`e.${order}.${event.event_id}`, JSON.stringify({ event, until: 0 }));
    if (++this.unsent >= this.batchSize) this.flush();
    else this.later(this.flushInterval);
    return event.event_id;
  }

  page(name, properties = {}) {
    const title = globalThis.document?.title;
    const screen = name ?? globalThis.location?.pathname;
    return this.track("page_view", { properties: { screen, title, ...properties } });
  }

  identify(userId, traits = {}) {
    this.userId = this.put("u", userId);
    return this.track("identify", { properties: traits });
  }

  // Sign out: later events belong to a new anonymous visitor and session.
  reset() {
    this.userId = null;
    this.store.del("u");
    this.store.del("s");
    this.anonymousId = this.put("a", uuid());
  }

  later(ms) {
    this.timer ||= setTimeout(() => {
      this.timer = 0;
      this.flush();
    }, ms);
  }

  // Send what is queued, from this tab if no other is sending; not before a backoff ends.
  async flush() {
    const wait = this.resume - nowMs();
    if (wait > 0) return this.later(wait);
    clearTimeout(this.timer);
    this.timer = 0;
    this.unsent = 0;
    const locks = globalThis.navigator?.locks;
    if (!locks) return this.send();
    return locks.request(this.lock, { ifAvailable: true }, (held) =>
      held ? this.send() : this.later(this.flushInterval),
    );
  }

  async send() {
    for (;;) {
      const [batch] = this.chunks();
      // Claimed by a tab that may have gone: look again when its claim ends.
      if (!batch) return this.claimed && this.later(this.claimed - nowMs());
      this.claim(batch, nowMs() + CLAIM_MS);
      let status = 0;
      let retryAfter = 0;
      try {
        const answer = await fetch(this.url, {
          method: "POST",
          body: this.body(batch),
          keepalive: batch.bytes < CHUNK_BYTES, // only one oversized event is over: ingest refuses it
          headers: { "Content-Type": "text/plain" },
        });
        status = answer.status;
        retryAfter = Number(answer.headers.get("Retry-After")) || 0;
      } catch {
        // offline, refused or blocked: retried below
      }
      if ((status >= 200 && status < 300) || FINAL.includes(status)) {
        if (status > 400) this.failed += batch.length;
        this.forget(batch);
        this.attempt = 0;
        continue;
      }
      this.claim(batch, 0);
      const backoff = Math.random() * Math.min(this.maxBackoff, 1000 * 2 ** this.attempt++);
      this.resume = nowMs() + Math.max(retryAfter * 1000, backoff);
      return this.later(this.resume - nowMs());
    }
  }

  // The page is going away: hand what is queued to sendBeacon, which outlives the page.
  leave() {
    const browser = globalThis.navigator;
    if (!browser?.sendBeacon || browser.onLine === false) return; // stays queued for next time
    for (const chunk of this.chunks()) {
      if (chunk.bytes >= CHUNK_BYTES) continue; // one oversized event: sent by fetch next time
      if (!browser.sendBeacon(this.url, this.body(chunk))) return; // the browser's quota
      this.forget(chunk);
    }
  }

  // Unclaimed queued events, oldest first, in requests of at most MAX_EVENTS and CHUNK_BYTES.
  chunks() {
    const now = nowMs();
    const chunks = [];
    let chunk = [];
    chunk.bytes = 80; // the envelope: {"events":[...],"sent_at":"..."}
    this.claimed = 0;
    for (const key of this.store.keys("e.")) {
      let item;
      try {
        item = JSON.parse(this.store.get(key));
      } catch {
        this.store.del(key); // another tab removed it meanwhile, or it was not ours
        continue;
      }
      if (!item) continue;
      if (item.until > now) {
        this.claimed = Math.min(this.claimed || item.until, item.until);
        continue;
      }
      item.key = key;
      const bytes = size(JSON.stringify(item.event)) + 1;
      if (chunk.length && (chunk.length >= MAX_EVENTS || chunk.bytes + bytes > CHUNK_BYTES)) {
        chunks.push(chunk);
        chunk = [];
        chunk.bytes = 80;
      }
      chunk.push(item);
      chunk.bytes += bytes;
    }
    if (chunk.length) chunks.push(chunk);
    return chunks;
  }

  body(chunk) {
    return JSON.stringify({ events: chunk.map((item) => item.event), sent_at: iso() });
  }

  claim(chunk, until) {
    for (const { key, event } of chunk) this.store.set(key, JSON.stringify({ event, until }));
  }

  forget(chunk) {
    for (const { key } of chunk) this.store.del(key);
  }
}
