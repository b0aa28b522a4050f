import { randomBytes } from "node:crypto";
import { createOtpService } from "../../src/domain/otp-service.js";
import type { OtpStore } from "../../src/domain/otp-store.js";
import { defaultPolicy, type Policy } from "../../src/domain/policy.js";
import type { OtpEvents, OtpSender } from "../../src/domain/ports.js";
import { createMemoryStore } from "../../src/storage/memory-store.js";
import {
  createFakeClock,
  createFixedRandom,
  createRecordingSender,
  createRecordingSigner,
  createRecordingVerifier,
} from "./fakes.js";
import { SERVICE_TOKEN } from "./service-token.js";

/**
 * The domain service over a memory store, a fake clock, fixed codes, a recording sender and a
 * recording access-token signer. SERVICE_TOKEN is its one service token unless `serviceTokens`
 * says otherwise (`[]` for none): an email lookup presents it, as a trusted service would.
 */
export function createDomainHarness(
  options: {
    policy?: Partial<Policy>;
    codes?: string[];
    store?: OtpStore;
    events?: OtpEvents;
    serviceTokens?: string[];
    /** Delivers instead of the recording sender (which then records nothing). */
    sender?: OtpSender;
  } = {},
) {
  const clock = createFakeClock();
  const sender = createRecordingSender();
  const store = options.store ?? createMemoryStore();
  const policy: Policy = { ...defaultPolicy, ...options.policy };
  const signer = createRecordingSigner();
  const service = createOtpService({
    store,
    clock,
    sender: options.sender ?? sender,
    random: createFixedRandom(options.codes ?? ["111111", "222222", "333333", "444444"]),
    policy,
    hmacKey: randomBytes(32),
    accessTokens: signer,
    accessTokenVerifier: createRecordingVerifier(),
    tokenAuthority: { issuer: "otp-auth", audience: "otp-auth", clientId: "otp-auth" },
    serviceTokens: options.serviceTokens ?? [SERVICE_TOKEN],
    ...(options.events ? { events: options.events } : {}),
  });
  return { service, store, clock, sender, policy, signer };
}
