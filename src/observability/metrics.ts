import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { OtpEvents } from "../domain/ports.js";
import { refusalReason } from "../rpc/error-mapping.js";
import type { PrimaryWatch } from "../storage/postgres/primary-pool.js";

/** One finished RPC, as its client saw it end. */
export interface FinishedCall {
  /** `auth.v1.AuthService/RequestOtp`: service and method, as grpcurl names them. */
  readonly method: string;
  /** The port it came in on: `main` or `grpc`. */
  readonly listener: string;
  /** The protocol it spoke: `grpc`, `grpc-web`, `connect` or `rest`. */
  readonly protocol: string;
  /** The gRPC code's name: `OK`, `RESOURCE_EXHAUSTED`, … */
  readonly code: string;
  /** The ErrorInfo reason, if the error carried one. */
  readonly reason?: string | undefined;
  readonly durationSeconds: number;
}

/** Which kind of failure a store operation had. */
export type StoreErrorKind = "storage_unavailable" | "unexpected";

/** The service's metrics and the ways to record into them; see createMetrics. */
export type Metrics = ReturnType<typeof createMetrics>;

// From a memory-store call (well under a millisecond) to a delivery that hits OTP_SEND_TIMEOUT.
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The service's Prometheus metrics, in a registry of their own (several apps may share a test
 * process), with prom-client's default process and Node.js metrics. Every label takes values from
 * a fixed set: registered methods, gRPC code names, the service's ErrorInfo reasons and storage
 * operation names, never anything a client chose. Recording never throws.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const rpcRequests = new Counter({
    name: "otp_auth_rpc_requests_total",
    help: "RPCs finished, by method, gRPC code, ErrorInfo reason (empty when there is none), listener (main or grpc) and protocol (grpc, grpc-web, connect, rest or seed-b).",
    labelNames: ["method", "code", "reason", "listener", "protocol"] as const,
    registers,
  });
  const rpcDuration = new Histogram({
    name: "otp_auth_rpc_duration_seconds",
    help: "Time from receiving an RPC to the end of its response, by method.",
    labelNames: ["method"] as const,
    buckets: DURATION_BUCKETS,
    registers,
  });
  const issued = new Counter({
    name: "otp_auth_codes_issued_total",
    help: "Codes delivered and activated (replayed responses issue none).",
    registers,
  });
  const verified = new Counter({
    name: "otp_auth_codes_verified_total",
    help: "Codes that verified and authenticated their email.",
    registers,
  });
  const failed = new Counter({
    name: "otp_auth_codes_failed_total",
    help: "Wrong codes counted against an (email, purpose).",
    registers,
  });
  const locked = new Counter({
    name: "otp_auth_codes_locked_total",
    help: "Wrong codes that reached the attempt limit, burning the code and locking (email, purpose).",
    registers,
  });
  const limitRefusals = new Counter({
    name: "otp_auth_limit_refusals_total",
    help: "Requests refused by a limit, by reason: OTP_REQUEST_LIMIT, IP_REQUEST_LIMIT or OTP_LOCKED.",
    labelNames: ["reason"] as const,
    registers,
  });
  const storeErrors = new Counter({
    name: "otp_auth_store_errors_total",
    help: "Storage operations that failed, by kind (storage_unavailable, unexpected) and operation.",
    labelNames: ["kind", "operation"] as const,
    registers,
  });
  const sessionsCreated = new Counter({
    name: "otp_auth_sessions_created_total",
    help: "Sessions started by successful verifications.",
    registers,
  });
  const sessionLookups = new Counter({
    name: "otp_auth_session_lookups_total",
    help: "GetStatus and ListSessions calls by session token, by result: live, or not_live (unknown, expired, idle, revoked).",
    labelNames: ["result"] as const,
    registers,
  });
  const signOuts = new Counter({
    name: "otp_auth_sign_outs_total",
    help: "SignOut calls carried out, by scope: session, other_session (another device of the user), or all_sessions of the user.",
    labelNames: ["scope"] as const,
    registers,
  });
  const deliveryFailures = new Counter({
    name: "otp_auth_delivery_failures_total",
    help: "Codes whose delivery failed (so they never verify).",
    registers,
  });

  const auditEvents = new Counter({
    name: "otp_auth_audit_events_total",
    help: "Audit events written, by type (an erasure's session.revoked events are not counted).",
    labelNames: ["type"] as const,
    registers,
  });

  const events: OtpEvents = {
    audited: (type, count) => {
      if (count > 0) {
        auditEvents.inc({ type }, count);
      }
    },
    codeIssued: () => issued.inc(),
    codeVerified: () => {
      verified.inc();
      sessionsCreated.inc();
    },
    sessionLookedUp: (live) => sessionLookups.inc({ result: live ? "live" : "not_live" }),
    signedOut: (scope) => signOuts.inc({ scope }),
    codeFailed: () => failed.inc(),
    codeLocked: () => locked.inc(),
    refused(refusal) {
      switch (refusal.kind) {
        case "request_limit":
        case "ip_limit":
        case "locked":
          limitRefusals.inc({ reason: refusalReason(refusal) });
          break;
        case "delivery_failed":
          deliveryFailures.inc();
          break;
      }
    },
  };

  return {
    registry,
    /** Counts one finished RPC and observes its duration. */
    recordCall(call: FinishedCall): void {
      rpcRequests.inc({
        method: call.method,
        code: call.code,
        reason: call.reason ?? "",
        listener: call.listener,
        protocol: call.protocol,
      });
      rpcDuration.observe({ method: call.method }, call.durationSeconds);
    },
    /** The domain's events, counted. */
    events,
    /** Counts one failed storage operation. */
    recordStoreError(operation: string, kind: StoreErrorKind): void {
      storeErrors.inc({ kind, operation });
    },
    /** Reports, at each scrape, which of several database hosts is the primary (see PrimaryWatch). */
    watchDatabasePrimary(watch: PrimaryWatch): void {
      new Gauge({
        name: "otp_auth_database_primary",
        help: "1 for the database host (of DATABASE_URL's list) that takes the calls now, 0 for the others; all 0 while none accepts writes.",
        labelNames: ["host"] as const,
        registers,
        collect() {
          const primary = watch.primary();
          for (const host of watch.hosts) {
            this.set({ host }, host === primary ? 1 : 0);
          }
        },
      });
      new Gauge({
        name: "otp_auth_database_last_failover_timestamp_seconds",
        help: "When this instance last found the primary on another database host (Unix time); 0 if it never did.",
        registers,
        collect() {
          this.set((watch.lastFailover()?.at ?? 0) / 1000);
        },
      });
    },
  };
}
