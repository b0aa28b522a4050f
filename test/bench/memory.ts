// What a user costs in memory with the in-memory store, and whether it all goes away once codes
// and windows expire. Runs the domain and the memory store in this process (no transport: the
// question is the store's footprint), with the default policy, the discard sender and a clock
// this script moves: it drives BENCH_USERS (1,000,000) distinct emails through RequestOtp, then
// moves the clock past every retention period (codes, limit windows, sessions, idempotency),
// purges as the service's minute sweep would, and compares heap and RSS with the baseline, each
// after a full GC. Exits 1 if a bound is broken.
//
//   npm run bench:memory                          (node --expose-gc, 1,000,000 users)
//   BENCH_USERS=200000 npm run bench:memory

import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createDiscardSender } from "../../src/delivery/discard-sender.js";
import { createOtpService } from "../../src/domain/otp-service.js";
import { defaultPolicy } from "../../src/domain/policy.js";
import { cryptoRandom } from "../../src/platform/crypto-random.js";
import { createMemoryStore } from "../../src/storage/memory-store.js";
import { createAccessTokenSigner } from "../../src/tokens/access-token-signer.js";
import { createAccessTokenVerifier } from "../../src/tokens/access-token-verifier.js";
import { ephemeralKeySet } from "../../src/tokens/signing-keys.js";

const USERS = Number(process.env.BENCH_USERS ?? 1_000_000);
const BATCH = 1_000;
/** Bound while live: bytes of heap per user holding one code and one limit window. */
const MAX_BYTES_PER_USER = 1_024;
/** Bound after expiry and purge: heap at most this much above the baseline. */
const MAX_HEAP_ABOVE_BASELINE_BYTES = 8 * 2 ** 20;
const resultsFile = fileURLToPath(new URL("results/memory-results.md", import.meta.url));

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error("run with node --expose-gc (npm run bench:memory does)");
  process.exit(2);
}

function settle() {
  // Twice: the first pass may leave weak and finalisation work for the second.
  gc?.();
  gc?.();
  const { heapUsed, rss } = process.memoryUsage();
  return { heapUsed, rss };
}

async function main() {
  let now = Date.parse("2026-01-01T00:00:00Z");
  const store = createMemoryStore();
  const keys = ephemeralKeySet();
  const tokenOptions = { issuer: "otp-auth", audience: "otp-auth", clientId: "otp-auth" };
  const service = createOtpService({
    store,
    clock: { now: () => now },
    random: cryptoRandom,
    sender: createDiscardSender(),
    // Every call comes from one address here, so the per-IP limit is off, as in the load bench.
    policy: { ...defaultPolicy, ipRequestLimit: null },
    hmacKey: randomBytes(32),
    accessTokens: createAccessTokenSigner(keys.signing, tokenOptions),
    accessTokenVerifier: createAccessTokenVerifier(keys.keys),
    tokenAuthority: tokenOptions,
  });
  // One call before the baseline, so that code loaded and compiled on first use is not counted.
  await service.requestOtp({ email: "warm-up@bench.example.com", purpose: "login" });
  now += 25 * 60 * 60 * 1000;
  await store.purgeExpired(now);
  const baseline = settle();

  const started = performance.now();
  for (let i = 0; i < USERS; i += BATCH) {
    const calls: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(USERS, i + BATCH); j++) {
      calls.push(service.requestOtp({ email: `user-${j}@bench.example.com`, purpose: "login" }));
    }
    await Promise.all(calls);
    now += 1; // time passes a little, as it would
  }
  const seconds = (performance.now() - started) / 1000;
  const live = settle();

  // Past every retention period: codes (TTL plus one TTL of grace), limit windows (1h), failure
  // counts and locks, sessions and idempotency records (24h).
  now += 25 * 60 * 60 * 1000;
  const purged = await store.purgeExpired(now);
  const after = settle();

  const perUser = (live.heapUsed - baseline.heapUsed) / USERS;
  const rssPerUser = (live.rss - baseline.rss) / USERS;
  const heapAbove = after.heapUsed - baseline.heapUsed;
  const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`;
  const ok = perUser <= MAX_BYTES_PER_USER && heapAbove <= MAX_HEAP_ABOVE_BASELINE_BYTES;
  const report = [
    "# otp-auth memory benchmark (in-memory store)",
    "",
    `${new Date().toISOString()} · Node ${process.version} · \`npm run bench:memory\` with BENCH_USERS=${USERS}`,
    "",
    `${USERS} distinct emails through RequestOtp in ${seconds.toFixed(1)} s (${(USERS / seconds).toFixed(0)}/s, domain and store only); ${purged} records purged after expiry.`,
    "",
    "| after a full GC | heap used | RSS |",
    "|---|--:|--:|",
    `| baseline | ${mb(baseline.heapUsed)} | ${mb(baseline.rss)} |`,
    `| ${USERS} users live | ${mb(live.heapUsed)} | ${mb(live.rss)} |`,
    `| expired and purged | ${mb(after.heapUsed)} | ${mb(after.rss)} |`,
    "",
    `Per user while live: ${perUser.toFixed(0)} bytes of heap (bound ≤ ${MAX_BYTES_PER_USER}), ${rssPerUser.toFixed(0)} bytes of RSS.`,
    `After expiry: heap ${mb(heapAbove)} above baseline (bound ≤ ${mb(MAX_HEAP_ABOVE_BASELINE_BYTES)}); RSS ${mb(after.rss - baseline.rss)} above baseline (V8 keeps freed pages for reuse; not bounded here).`,
    `Bounds: ${ok ? "met" : "BROKEN"}.`,
    "",
  ].join("\n");
  process.stdout.write(report);
  writeFileSync(resultsFile, report);
  if (!ok) {
    process.exit(1);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
