// Send the compatibility test's events through a Segment-speaking Node SDK, then flush and exit.
// usage: node send.cjs segment|rudder HOST WRITE_KEY USER_ID
"use strict";
const [sdk, host, writeKey, userId] = process.argv.slice(2);

function events(client) {
  client.track({ userId, event: "Order Completed", properties: { total: 42.0, currency: "EUR", order_id: "o-1" } });
  client.track({ userId, event: "Products Searched", properties: { query: "plumber", result_count: 3 } });
  client.page({ userId, category: "Docs", name: "Home", properties: { url: "https://shop.example/" } });
  client.identify({ userId, traits: { plan: "pro" } });
}

async function main() {
  if (sdk === "segment") {
    const { Analytics } = require("@segment/analytics-node");
    const client = new Analytics({ writeKey, host, maxRetries: 3, flushAt: 4 });
    client.on("error", (err) => console.error("segment error", err && err.reason));
    events(client);
    await client.closeAndFlush({ timeout: 20000 });
  } else if (sdk === "rudder") {
    const Analytics = require("@rudderstack/rudder-sdk-node");
    const client = new Analytics(writeKey, { dataPlaneUrl: host, flushAt: 4, retryCount: 3, logLevel: "error" });
    events(client);
    await new Promise((resolve, reject) => client.flush((err) => (err ? reject(err) : resolve())));
  } else {
    throw new Error(`unknown sdk ${sdk}`);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
