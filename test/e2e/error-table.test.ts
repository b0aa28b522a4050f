import { randomUUID } from "node:crypto";
import { create, type DescMessage, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  AdminService,
  GetUserRequestSchema,
  ListAuditEventsRequestSchema,
} from "../../gen/auth/v1/admin_pb.js";
import {
  AuthService,
  GetStatusRequestSchema,
  ListSessionsRequestSchema,
  RequestOtpRequestSchema,
  SignOutRequestSchema,
  VerifyOtpRequestSchema,
} from "../../gen/auth/v1/auth_pb.js";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  RetryInfoSchema,
} from "../../gen/google/rpc/error_details_pb.js";
import { DEFAULT_SERVE_LIMITS } from "../../src/config/serve-limits.js";
import { createConsoleSender } from "../../src/delivery/console-sender.js";
import { OtpError } from "../../src/domain/errors.js";

import {
  createAuthClient,
  createGrpcJsClient,
  createGrpcJsServiceClient,
  createTransport,
  detailsOf,
  type Protocol,
  protocols,
  rejection,
} from "../support/clients.js";
import { createFailingStore, createHoldingSender } from "../support/fakes.js";
import {
  callGrpcJs,
  envelope,
  errorFromConnectResponse,
  errorFromGrpcStatus,
  errorFromRestStatus,
  grpcWebTrailer,
  http2Request,
  parseEnvelopes,
} from "../support/raw-requests.js";
import { SERVICE_TOKEN, serviceAuthorization } from "../support/service-token.js";
import {
  type GrpcDoor,
  grpcDoors,
  startTestServer,
  type TestServer,
} from "../support/test-server.js";

const MAX_REQUEST_BYTES = DEFAULT_SERVE_LIMITS.maxRequestBytes;

const EMAIL = "ada@example.com";
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** How a request names its account: email or external id (both only to see them refused). */
type Account = { email: string; externalId?: string } | { email?: string; externalId: string };

/**
 * The three RPCs as each kind of client makes them; failures reject with a ConnectError.
 * GetStatus presents SERVICE_TOKEN, as the trusted service that asks about an account does, unless
 * `anonymous` (a stranger asking).
 */
interface Caller {
  requestOtp(
    req: Account & { purpose?: string },
    options?: { idempotencyKey?: string },
  ): Promise<{ otpId: string; remainingRequests: number }>;
  verifyOtp(req: Account & { otp: string; purpose?: string; otpId?: string }): Promise<{
    authenticated: boolean;
  }>;
  /** Absent for seed B's dialect, which has no status route. */
  getStatus?(req: Account, options?: { anonymous?: boolean }): Promise<{ authenticated: boolean }>;
  /** Absent for seed B's dialect, which has no session routes. */
  signOut?(req: SignOutInit): Promise<unknown>;
  listSessions?(req: { sessionToken: string }): Promise<unknown>;
  /** AdminService GetUser; absent for the doors that do not serve AdminService (REST, seed B). */
  getUser?(
    req: { email?: string; userId?: string; externalId?: string },
    options?: { anonymous?: boolean },
  ): Promise<{ userId: string }>;
  /** AdminService ListAuditEvents with the service token; absent where GetUser is. */
  listAuditEvents?(req: { email: string; pageToken: string }): Promise<unknown>;
  /** Seed B's dialect names an account by one field, user_id, so never by two at once. */
  readonly oneAccountField?: true;
  close(): void;
}

/** A SignOut request: the token, and another session of its user or all of them. */
type SignOutInit = { sessionToken: string; sessionId?: string; allSessions?: boolean };

// Every gRPC case below runs against both doors, from one table.
const doors = grpcDoors;
type Door = GrpcDoor;

/** A connect-node client; `retry-after` is in `error.metadata` (headers and trailers merged). */
function connectNodeCaller(protocol: Protocol, door: Door = "the main port") {
  return (server: TestServer): Caller => {
    const baseUrl = `http://127.0.0.1:${doors[door](server)}`;
    const client = createAuthClient(protocol, baseUrl);
    const admin = createClient(AdminService, createTransport(protocol, baseUrl));
    return {
      requestOtp: (req, options = {}) =>
        client.requestOtp(req, { headers: idempotencyHeader(options.idempotencyKey) }),
      verifyOtp: (req) => client.verifyOtp(req),
      getStatus: (req, options = {}) =>
        client.getStatus(req, { headers: serviceHeader(options.anonymous) }),
      signOut: (req) => client.signOut(req),
      listSessions: (req) => client.listSessions(req),
      getUser: (req, options = {}) =>
        admin.getUser(req, { headers: serviceHeader(options.anonymous) }),
      listAuditEvents: (req) => admin.listAuditEvents(req, { headers: serviceAuthorization }),
      close() {},
    };
  };
}

/** Plain fetch with Connect JSON; an error's metadata is the HTTP response headers. */
function fetchCaller(server: TestServer): Caller {
  const post = async (method: string, body: unknown, headers: Record<string, string> = {}) => {
    const path = method.includes("/") ? method : `auth.v1.AuthService/${method}`;
    const res = await fetch(`${server.baseUrl}/${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (res.status !== 200) {
      throw errorFromConnectResponse(res.status, bytes, res.headers);
    }
    return JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
  };
  return {
    async requestOtp(req, options = {}) {
      const json = await post("RequestOtp", req, idempotencyHeader(options.idempotencyKey));
      // Proto3 JSON leaves out zero.
      return {
        otpId: json.otpId as string,
        remainingRequests: Number(json.remainingRequests ?? 0),
      };
    },
    verifyOtp: async (req) => ({
      authenticated: (await post("VerifyOtp", req)).authenticated === true,
    }),
    getStatus: async (req, options = {}) => ({
      authenticated:
        (await post("GetStatus", req, serviceHeader(options.anonymous))).authenticated === true,
    }),
    signOut: (req) => post("SignOut", req),
    listSessions: (req) => post("ListSessions", req),
    getUser: async (req, options = {}) => ({
      userId: (await post("auth.v1.AdminService/GetUser", req, serviceHeader(options.anonymous)))
        .userId as string,
    }),
    listAuditEvents: (req) =>
      post("auth.v1.AdminService/ListAuditEvents", req, serviceAuthorization),
    close() {},
  };
}

/**
 * Plain fetch at the REST routes (SPEC.md "REST"); an error is the google.rpc.Status JSON body
 * under the HTTP status the gateway mapping gives its code, its metadata the response headers.
 */
function restCaller(server: TestServer): Caller {
  const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${server.baseUrl}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (res.status !== 200) {
      throw errorFromRestStatus(res.status, bytes, res.headers);
    }
    return JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
  };
  return {
    async requestOtp(req, options = {}) {
      const json = await post("/auth/request-otp", req, idempotencyHeader(options.idempotencyKey));
      // REST answers default values too.
      return { otpId: json.otpId as string, remainingRequests: json.remainingRequests as number };
    },
    verifyOtp: async (req) => ({
      authenticated: (await post("/auth/verify-otp", req)).authenticated as boolean,
    }),
    getStatus: async (req, options = {}) => ({
      authenticated: (await post("/auth/status", req, serviceHeader(options.anonymous)))
        .authenticated as boolean,
    }),
    signOut: (req) => post("/auth/sign-out", req),
    listSessions: (req) => post("/auth/sessions", req),
    close() {},
  };
}

/**
 * Seed B's dialect, as its clients use it (SPEC.md "Accounts without an email"): the test's email
 * is the application's user id (any visible ASCII is one), every request carries an
 * Idempotency-Key. Its `{"error": …}` answers are read into a ConnectError whose ErrorInfo reason
 * is the error in upper case, so that expectRefusal compares them with seedBView of the table's
 * row; the HTTP status is checked against seed B's table here.
 */
function seedBCaller(server: TestServer): Caller {
  const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${server.baseUrl}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as Record<string, unknown>;
    if (res.status >= 300) {
      throw errorFromSeedB(res.status, json, res.headers);
    }
    return json;
  };
  return {
    async requestOtp(req, options = {}) {
      const key = options.idempotencyKey ?? randomUUID();
      const json = await post(
        "/otp/request",
        { user_id: userIdOf(req), purpose: req.purpose },
        { "idempotency-key": key },
      );
      return { otpId: json.otp_id as string, remainingRequests: json.remaining_requests as number };
    },
    verifyOtp: async (req) => ({
      authenticated:
        (
          await post("/otp/verify", {
            user_id: userIdOf(req),
            purpose: req.purpose,
            code: req.otp,
            ...(req.otpId === undefined ? {} : { otp_id: req.otpId }),
          })
        ).success === true,
    }),
    oneAccountField: true,
    close() {},
  };
}

/** Seed B names an account by user_id alone: the test's external id, else its email. */
function userIdOf(account: Account): string | undefined {
  if (account.email !== undefined && account.externalId !== undefined) {
    throw new Error("seed B's dialect cannot name an account by email and external id at once");
  }
  return account.externalId ?? account.email;
}

// Seed B's answers to the service's refusals, as seed B documents them (SPEC.md), written out
// independently of the door.
const SEED_B: Readonly<Record<string, { readonly error: string; readonly status: number }>> = {
  INVALID_ARGUMENT: { error: "invalid_request", status: 400 },
  MESSAGE_TOO_LARGE: { error: "message_too_large", status: 413 },
  OTP_REQUEST_LIMIT: { error: "rate_limit_exceeded", status: 429 },
  IP_REQUEST_LIMIT: { error: "rate_limit_exceeded", status: 429 },
  OTP_LOCKED: { error: "too_many_attempts", status: 429 },
  OTP_NOT_FOUND: { error: "code_not_found", status: 404 },
  OTP_EXPIRED: { error: "code_expired", status: 410 },
  OTP_ALREADY_USED: { error: "code_used", status: 410 },
  OTP_MISMATCH: { error: "invalid_code", status: 401 },
  IDEMPOTENCY_KEY_MISMATCH: { error: "idempotency_key_mismatch", status: 400 },
  DELIVERY_FAILED: { error: "delivery_failed", status: 503 },
  EXTERNAL_ID_DELIVERY_UNAVAILABLE: { error: "external_id_delivery_unavailable", status: 400 },
  STORAGE_UNAVAILABLE: { error: "storage_unavailable", status: 503 },
};
// The request fields seed B names otherwise: the test's email travels as user_id.
const SEED_B_FIELDS: Readonly<Record<string, string>> = {
  email: "user_id",
  external_id: "user_id",
  otp: "code",
};

/** A row of the error table as seed B's client sees it. */
function seedBView(expected: Expected): Expected {
  const row = SEED_B[expected.reason];
  if (row === undefined) {
    throw new Error(`seed B has no answer listed for ${expected.reason}`);
  }
  const field = expected.field && (SEED_B_FIELDS[expected.field] ?? expected.field);
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(expected.metadata ?? {})) {
    // Seed B's documented too_many_attempts body has no scope: its clients never bound codes.
    if (name !== "lock_scope") {
      metadata[name] = name === "field" ? (SEED_B_FIELDS[value] ?? value) : value;
    }
  }
  return {
    code: Code.Unknown,
    reason: row.error.toUpperCase(),
    ...(field === undefined ? {} : { field }),
    ...(expected.retryAfter === undefined ? {} : { retryAfter: expected.retryAfter }),
    metadata,
  };
}

/** A seed B error answer as a ConnectError, after checking its status against SEED_B. */
function errorFromSeedB(status: number, json: Record<string, unknown>, headers: Headers) {
  const error = json.error as string;
  if (error === "internal") {
    expect(status).toBe(500);
    return new ConnectError("internal error", Code.Internal);
  }
  const row = Object.values(SEED_B).find((candidate) => candidate.error === error);
  expect({ error, status }).toEqual({ error, status: row?.status });
  const metadata: Record<string, string> = {};
  const details: ConstructorParameters<typeof ConnectError>[3] = [];
  if (typeof json.field === "string") {
    metadata.field = json.field;
    details.push({
      desc: BadRequestSchema,
      value: { fieldViolations: [{ field: json.field, description: "" }] },
    });
  }
  if (json.attempts_remaining !== undefined) {
    metadata.attempts_remaining = String(json.attempts_remaining);
  }
  const seconds = json.retry_after_seconds ?? json.remaining_cooldown_seconds;
  if (typeof seconds === "number") {
    details.push({ desc: RetryInfoSchema, value: { retryDelay: { seconds: BigInt(seconds) } } });
  }
  details.unshift({
    desc: ErrorInfoSchema,
    value: { reason: error.toUpperCase(), domain: "auth.v1", metadata },
  });
  // Refusals seed B does not document carry the service's message; the documented ones none.
  const message = typeof json.message === "string" ? json.message : error;
  return new ConnectError(message, Code.Unknown, headers, details);
}

/** @grpc/grpc-js; an error's metadata is the gRPC trailers. */
function grpcJsCaller(door: Door) {
  return (server: TestServer): Caller => {
    const client = createGrpcJsClient(doors[door](server));
    const admin = createGrpcJsServiceClient(doors[door](server), AdminService);
    return {
      requestOtp: (req, options = {}) =>
        callGrpcJs(client, "RequestOtp", create(RequestOtpRequestSchema, req), {
          metadata: idempotencyHeader(options.idempotencyKey),
        }),
      verifyOtp: (req) => callGrpcJs(client, "VerifyOtp", create(VerifyOtpRequestSchema, req)),
      getStatus: (req, options = {}) =>
        callGrpcJs(client, "GetStatus", create(GetStatusRequestSchema, req), {
          metadata: serviceHeader(options.anonymous),
        }),
      signOut: (req) => callGrpcJs(client, "SignOut", create(SignOutRequestSchema, req)),
      listSessions: (req) =>
        callGrpcJs(client, "ListSessions", create(ListSessionsRequestSchema, req)),
      getUser: (req, options = {}) =>
        callGrpcJs(admin, "GetUser", create(GetUserRequestSchema, req), {
          metadata: serviceHeader(options.anonymous),
        }),
      listAuditEvents: (req) =>
        callGrpcJs(admin, "ListAuditEvents", create(ListAuditEventsRequestSchema, req), {
          metadata: serviceAuthorization,
        }),
      close: () => {
        client.close();
        admin.close();
      },
    };
  };
}

/**
 * gRPC as raw HTTP/2 frames (node:http2), as grpcio and other gRPC stacks send it: one session per
 * call; the status is read from the trailers, or from the headers of a trailers-only answer.
 */
function rawGrpcCaller(door: Door) {
  return (server: TestServer): Caller => {
    const call = async <O extends DescMessage>(
      method: keyof typeof AuthService.method | "admin.getUser" | "admin.listAuditEvents",
      request: Uint8Array,
      output: O,
      headers: Record<string, string> = {},
    ) => {
      const path =
        method === "admin.getUser"
          ? `/${AdminService.typeName}/${AdminService.method.getUser.name}`
          : method === "admin.listAuditEvents"
            ? `/${AdminService.typeName}/${AdminService.method.listAuditEvents.name}`
            : `/${AuthService.typeName}/${AuthService.method[method].name}`;
      const res = await http2Request(doors[door](server), {
        path,
        headers: { "content-type": "application/grpc", te: "trailers", ...headers },
        body: envelope(request),
      });
      const status = res.trailers.has("grpc-status") ? res.trailers : res.headers;
      if (status.get("grpc-status") !== "0") {
        throw errorFromGrpcStatus(status);
      }
      const [message] = parseEnvelopes(res.body);
      return fromBinary(output, message?.data ?? new Uint8Array());
    };
    const { requestOtp, verifyOtp, getStatus, signOut, listSessions } = AuthService.method;
    return {
      requestOtp: (req, options = {}) =>
        call(
          "requestOtp",
          toBinary(RequestOtpRequestSchema, create(RequestOtpRequestSchema, req)),
          requestOtp.output,
          idempotencyHeader(options.idempotencyKey),
        ),
      verifyOtp: (req) =>
        call(
          "verifyOtp",
          toBinary(VerifyOtpRequestSchema, create(VerifyOtpRequestSchema, req)),
          verifyOtp.output,
        ),
      getStatus: (req, options = {}) =>
        call(
          "getStatus",
          toBinary(GetStatusRequestSchema, create(GetStatusRequestSchema, req)),
          getStatus.output,
          serviceHeader(options.anonymous),
        ),
      signOut: (req) =>
        call(
          "signOut",
          toBinary(SignOutRequestSchema, create(SignOutRequestSchema, req)),
          signOut.output,
        ),
      listSessions: (req) =>
        call(
          "listSessions",
          toBinary(ListSessionsRequestSchema, create(ListSessionsRequestSchema, req)),
          listSessions.output,
        ),
      getUser: (req, options = {}) =>
        call(
          "admin.getUser",
          toBinary(GetUserRequestSchema, create(GetUserRequestSchema, req)),
          AdminService.method.getUser.output,
          serviceHeader(options.anonymous),
        ),
      listAuditEvents: (req) =>
        call(
          "admin.listAuditEvents",
          toBinary(ListAuditEventsRequestSchema, create(ListAuditEventsRequestSchema, req)),
          AdminService.method.listAuditEvents.output,
          serviceAuthorization,
        ),
      close() {},
    };
  };
}

function idempotencyHeader(key: string | undefined): Record<string, string> {
  return key === undefined ? {} : { "idempotency-key": key };
}

function serviceHeader(anonymous = false): Record<string, string> {
  return anonymous ? {} : serviceAuthorization;
}

/** How a client sees a row of the table: as it is, but for seed B's dialect. */
type View = (expected: Expected) => Expected;
const asItIs: View = (expected) => expected;
let view: View = asItIs;

const callers: [string, (server: TestServer) => Caller, View?][] = [
  ["Connect JSON over HTTP/1.1 (connect-node)", connectNodeCaller("connect-json-h1")],
  ["Connect proto over HTTP/2 (connect-node)", connectNodeCaller("connect-proto-h2")],
  ["Connect JSON (plain fetch)", fetchCaller],
  ["gRPC-Web (connect-node)", connectNodeCaller("grpc-web")],
  ["REST (plain fetch)", restCaller],
  ["seed B's HTTP dialect (plain fetch)", seedBCaller, seedBView],
  // gRPC: the same clients at both doors.
  ...Object.keys(doors).flatMap((door): [string, (server: TestServer) => Caller][] => [
    [`gRPC (connect-node) at ${door}`, connectNodeCaller("grpc", door as Door)],
    [`gRPC (@grpc/grpc-js) at ${door}`, grpcJsCaller(door as Door)],
    [`gRPC (raw HTTP/2 frames) at ${door}`, rawGrpcCaller(door as Door)],
  ]),
];

interface Expected {
  readonly code: Code;
  readonly reason: string;
  /** The field BadRequest names (INVALID_ARGUMENT only). */
  readonly field?: string;
  /** Whole seconds in RetryInfo and `retry-after`; without it, neither may be present. */
  readonly retryAfter?: number;
  /** ErrorInfo metadata that must be present. */
  readonly metadata?: Record<string, string>;
}

/** Awaits the refusal of `call` and checks it against one row of the error table. */
async function expectRefusal(call: Promise<unknown>, row: Expected): Promise<ConnectError> {
  const expected = view(row);
  const error = await rejection(call);
  const { errorInfo, retryInfo, badRequest } = detailsOf(error);
  expect({ code: Code[error.code], reason: errorInfo?.reason, domain: errorInfo?.domain }).toEqual({
    code: Code[expected.code],
    reason: expected.reason,
    domain: "auth.v1",
  });
  if (expected.field === undefined) {
    expect(badRequest).toBeUndefined();
  } else {
    expect(badRequest?.fieldViolations.map((violation) => violation.field)).toEqual([
      expected.field,
    ]);
  }
  if (expected.retryAfter === undefined) {
    expect(retryInfo).toBeUndefined();
    expect(error.metadata.get("retry-after")).toBeNull();
  } else {
    expect(retryInfo?.retryDelay?.seconds).toBe(BigInt(expected.retryAfter));
    expect(error.metadata.get("retry-after")).toBe(String(expected.retryAfter));
  }
  expect(errorInfo?.metadata).toMatchObject(expected.metadata ?? {});
  return error;
}

/** Every code the server sent: to emails, and to external ids (seed B's dialect names by them). */
function codesSent(server: TestServer): readonly { code: string }[] {
  return [...server.sender.sent, ...server.sender.sentToExternalIds];
}

/**
 * The last code sent to `name`: an email, or the external id seed B's caller made of the test's
 * email (an email and an external id of one spelling are two accounts; a test uses one client).
 */
function lastCode(server: TestServer, name: string): string {
  const toEmail = server.sender.sent.filter((delivery) => delivery.email === name);
  const toId = server.sender.sentToExternalIds.filter((delivery) => delivery.externalId === name);
  const last = (toEmail.length > 0 ? toEmail : toId).at(-1);
  if (last === undefined) {
    throw new Error(`no code was sent to ${name}`);
  }
  return last.code;
}

/** A six-digit code that is certainly not `code`. */
function wrong(code: string): string {
  return code === "000000" ? "111111" : "000000";
}

const cleanups: (() => unknown)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup();
  }
});

/**
 * A server (per-IP limit off and SERVICE_TOKEN its service token, unless `env` says otherwise) and
 * a caller to it, both closed after the test.
 */
async function serve(
  connect: (server: TestServer) => Caller,
  env: Record<string, string> = {},
  options: Parameters<typeof startTestServer>[1] = {},
) {
  const server = await startTestServer(
    { OTP_IP_REQUEST_LIMIT: "off", SERVICE_TOKENS: SERVICE_TOKEN, ...env },
    options,
  );
  cleanups.push(() => server.close());
  const caller = connect(server);
  cleanups.push(() => caller.close());
  return { server, caller };
}

describe.each(callers)("the error table over %s", (_name, connect, callerView = asItIs) => {
  beforeEach(() => {
    view = callerView;
  });
  afterEach(() => {
    view = asItIs;
  });

  describe("INVALID_ARGUMENT names the field", () => {
    it("a malformed email is refused naming email", async () => {
      const { caller } = await serve(connect);
      await expectRefusal(caller.requestOtp({ email: "ada at example" }), {
        code: Code.InvalidArgument,
        reason: "INVALID_ARGUMENT",
        field: "email",
        metadata: { field: "email" },
      });
      // Seed B's dialect has no status route; RequestOtp above is its lookup of an account.
      await expectRefusal(caller.getStatus?.({ email: "" }) ?? caller.requestOtp({ email: "" }), {
        code: Code.InvalidArgument,
        reason: "INVALID_ARGUMENT",
        field: "email",
      });
    });

    it("a code that is not six digits is refused naming otp", async () => {
      const { caller } = await serve(connect);
      await expectRefusal(caller.verifyOtp({ email: EMAIL, otp: "12a456" }), {
        code: Code.InvalidArgument,
        reason: "INVALID_ARGUMENT",
        field: "otp",
      });
    });

    it("a purpose of the wrong shape is refused naming purpose", async () => {
      const { caller } = await serve(connect);
      await expectRefusal(caller.requestOtp({ email: EMAIL, purpose: "Login" }), {
        code: Code.InvalidArgument,
        reason: "INVALID_ARGUMENT",
        field: "purpose",
      });
    });

    it("an idempotency key of 256 characters is refused naming idempotency_key", async () => {
      const { caller, server } = await serve(connect);
      await expectRefusal(
        caller.requestOtp({ email: EMAIL }, { idempotencyKey: "k".repeat(256) }),
        {
          code: Code.InvalidArgument,
          reason: "INVALID_ARGUMENT",
          field: "idempotency_key",
        },
      );
      expect(codesSent(server)).toHaveLength(0);
    });

    it("a malformed external_id, or an email beside it, is refused naming external_id", async () => {
      const { caller, server } = await serve(connect);
      await expectRefusal(caller.requestOtp({ externalId: "user 42" }), {
        code: Code.InvalidArgument,
        reason: "INVALID_ARGUMENT",
        field: "external_id",
        metadata: { field: "external_id" },
      });
      // Seed B's dialect has one account field, user_id: its requests cannot name two.
      if (caller.oneAccountField !== true) {
        await expectRefusal(
          caller.verifyOtp({ email: EMAIL, externalId: "user-42", otp: "123456" }),
          { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "external_id" },
        );
      }
      const tooLong = { externalId: "x".repeat(129) };
      await expectRefusal(caller.getStatus?.(tooLong) ?? caller.requestOtp(tooLong), {
        code: Code.InvalidArgument,
        reason: "INVALID_ARGUMENT",
        field: "external_id",
      });
      expect(server.sender.sentToExternalIds).toHaveLength(0);
    });

    it("a malformed session token in ListSessions names session_token; a malformed session_id, or one with all_sessions, names session_id", async () => {
      const { caller } = await serve(connect);
      if (caller.signOut === undefined || caller.listSessions === undefined) {
        // Only seed B's dialect, which has no session routes, lacks them.
        expect(caller.oneAccountField).toBe(true);
        return;
      }
      const sessionToken = "t".repeat(43);
      await expectRefusal(caller.listSessions({ sessionToken: "not a token" }), {
        code: Code.InvalidArgument,
        reason: "INVALID_ARGUMENT",
        field: "session_token",
      });
      await expectRefusal(caller.signOut({ sessionToken, sessionId: "not an id" }), {
        code: Code.InvalidArgument,
        reason: "INVALID_ARGUMENT",
        field: "session_id",
        metadata: { field: "session_id" },
      });
      await expectRefusal(caller.signOut({ sessionToken, sessionId: "s-1", allSessions: true }), {
        code: Code.InvalidArgument,
        reason: "INVALID_ARGUMENT",
        field: "session_id",
      });
    });
  });

  it("an external_id with a sender that cannot reach it is EXTERNAL_ID_DELIVERY_UNAVAILABLE", async () => {
    const { caller } = await serve(
      connect,
      {},
      { sender: createConsoleSender({ write: () => true }) },
    );
    const error = await expectRefusal(caller.requestOtp({ externalId: "user-42" }), {
      code: Code.FailedPrecondition,
      reason: "EXTERNAL_ID_DELIVERY_UNAVAILABLE",
    });
    expect(error.rawMessage).toContain("OTP_SENDER=webhook");
  });

  it("a request body over the size limit is MESSAGE_TOO_LARGE, without RetryInfo", async () => {
    const { caller, server } = await serve(connect);
    const email = `${"a".repeat(100_000)}@example.com`;
    expect(email.length).toBeGreaterThan(MAX_REQUEST_BYTES);
    // expectRefusal also checks that neither RetryInfo nor retry-after is present.
    await expectRefusal(caller.requestOtp({ email }), {
      code: Code.ResourceExhausted,
      reason: "MESSAGE_TOO_LARGE",
    });
    expect(codesSent(server)).toHaveLength(0);
  });

  describe("RESOURCE_EXHAUSTED says how long to wait", () => {
    it("an email over its request limit is refused until its oldest slot frees", async () => {
      const { caller, server } = await serve(connect);
      await caller.requestOtp({ email: EMAIL });
      server.clock.advance(HOUR - 1_500);
      await caller.requestOtp({ email: EMAIL });
      await caller.requestOtp({ email: EMAIL, purpose: "reset" });

      // The first slot frees in 1.5 s: rounded up to 2.
      await expectRefusal(caller.requestOtp({ email: EMAIL }), {
        code: Code.ResourceExhausted,
        reason: "OTP_REQUEST_LIMIT",
        retryAfter: 2,
      });
      server.clock.advance(1_500);
      expect((await caller.requestOtp({ email: EMAIL })).remainingRequests).toBe(0);
    });

    it("a wait of under a second is announced as one second", async () => {
      const { caller, server } = await serve(connect, { OTP_REQUEST_LIMIT: "1/1h" });
      await caller.requestOtp({ email: EMAIL });
      server.clock.advance(HOUR - 1);
      await expectRefusal(caller.requestOtp({ email: EMAIL }), {
        code: Code.ResourceExhausted,
        reason: "OTP_REQUEST_LIMIT",
        retryAfter: 1,
      });
    });

    it("a client address over its request limit is refused with IP_REQUEST_LIMIT", async () => {
      const { caller } = await serve(connect, { OTP_IP_REQUEST_LIMIT: "2/15m" });
      await caller.requestOtp({ email: "one@example.com" });
      await caller.requestOtp({ email: "two@example.com" });
      await expectRefusal(caller.requestOtp({ email: "three@example.com" }), {
        code: Code.ResourceExhausted,
        reason: "IP_REQUEST_LIMIT",
        retryAfter: 15 * 60,
      });
    });
  });

  it("an unknown email and a known email without a code get the same OTP_NOT_FOUND", async () => {
    const { caller } = await serve(connect);
    await caller.requestOtp({ email: EMAIL, purpose: "login" });
    const notFound = { code: Code.NotFound, reason: "OTP_NOT_FOUND" };
    const unknown = await expectRefusal(
      caller.verifyOtp({ email: "nobody@example.com", otp: "123456" }),
      notFound,
    );
    const known = await expectRefusal(
      caller.verifyOtp({ email: EMAIL, otp: "123456", purpose: "reset" }),
      notFound,
    );
    expect(known.rawMessage).toBe(unknown.rawMessage);
  });

  it("an expired code is OTP_EXPIRED and counts no failure", async () => {
    const { caller, server } = await serve(connect);
    await caller.requestOtp({ email: EMAIL });
    const code = lastCode(server, EMAIL);
    server.clock.advance(5 * MINUTE + 1);
    // As many tries as would lock, were they counted.
    for (const otp of [code, wrong(code), wrong(code)]) {
      await expectRefusal(caller.verifyOtp({ email: EMAIL, otp }), {
        code: Code.DeadlineExceeded,
        reason: "OTP_EXPIRED",
      });
    }
    await caller.requestOtp({ email: EMAIL });
    await expectRefusal(caller.verifyOtp({ email: EMAIL, otp: wrong(lastCode(server, EMAIL)) }), {
      code: Code.Unauthenticated,
      reason: "OTP_MISMATCH",
      metadata: { attempts_remaining: "2" },
    });
  });

  // Seed B's dialect has no lookup by account, so nothing for a stranger to ask there: the case is
  // not registered for it rather than passing without a check.
  if (callerView === asItIs) {
    it("an email lookup without a service token is CALLER_UNAUTHENTICATED, before the email is read", async () => {
      // With a service token configured, and with none (closed by default).
      const envs: Record<string, string>[] = [{}, { SERVICE_TOKENS: "" }];
      for (const env of envs) {
        const { caller } = await serve(connect, env);
        for (const email of [EMAIL, ""]) {
          const lookUp = caller.getStatus?.({ email }, { anonymous: true });
          await expectRefusal(lookUp ?? Promise.reject(new Error("no GetStatus")), {
            code: Code.Unauthenticated,
            reason: "CALLER_UNAUTHENTICATED",
          });
        }
      }
    });
  }

  it("a code cannot be used twice", async () => {
    const { caller, server } = await serve(connect);
    await caller.requestOtp({ email: EMAIL });
    const otp = lastCode(server, EMAIL);
    expect((await caller.verifyOtp({ email: EMAIL, otp })).authenticated).toBe(true);
    await expectRefusal(caller.verifyOtp({ email: EMAIL, otp }), {
      code: Code.FailedPrecondition,
      reason: "OTP_ALREADY_USED",
    });
  });

  describe("wrong codes", () => {
    it("count down attempts_remaining, and the third locks (email, purpose) with OTP_LOCKED", async () => {
      const { caller, server } = await serve(connect);
      await caller.requestOtp({ email: EMAIL });
      const code = lastCode(server, EMAIL);
      for (const remaining of ["2", "1"]) {
        await expectRefusal(caller.verifyOtp({ email: EMAIL, otp: wrong(code) }), {
          code: Code.Unauthenticated,
          reason: "OTP_MISMATCH",
          metadata: { attempts_remaining: remaining },
        });
      }
      const locked = {
        code: Code.ResourceExhausted,
        reason: "OTP_LOCKED",
        retryAfter: 600,
        metadata: { lock_scope: "unbound" },
      };
      await expectRefusal(caller.verifyOtp({ email: EMAIL, otp: wrong(code) }), locked);

      // The lock refuses unbound verification, even of the right code, and counts down...
      await expectRefusal(caller.verifyOtp({ email: EMAIL, otp: code }), locked);
      server.clock.advance(4 * MINUTE);
      await expectRefusal(caller.verifyOtp({ email: EMAIL, otp: code }), {
        ...locked,
        retryAfter: 360,
      });
      // ...but not a request, whose code verifies bound to it.
      const { otpId } = await caller.requestOtp({ email: EMAIL });
      const fresh = lastCode(server, EMAIL);
      expect(await caller.verifyOtp({ email: EMAIL, otp: fresh, otpId })).toMatchObject({
        authenticated: true,
      });
    });

    it("give a code bound by its otp_id its own attempts: the third kills it with OTP_LOCKED", async () => {
      const { caller, server } = await serve(connect);
      const { otpId } = await caller.requestOtp({ email: EMAIL });
      const code = lastCode(server, EMAIL);
      for (const remaining of ["2", "1"]) {
        await expectRefusal(caller.verifyOtp({ email: EMAIL, otp: wrong(code), otpId }), {
          code: Code.Unauthenticated,
          reason: "OTP_MISMATCH",
          metadata: { attempts_remaining: remaining },
        });
      }
      await expectRefusal(caller.verifyOtp({ email: EMAIL, otp: wrong(code), otpId }), {
        code: Code.ResourceExhausted,
        reason: "OTP_LOCKED",
        retryAfter: 300,
        metadata: { lock_scope: "code" },
      });
      await expectRefusal(caller.verifyOtp({ email: EMAIL, otp: code, otpId }), {
        code: Code.NotFound,
        reason: "OTP_NOT_FOUND",
      });
      // An otp_id that is no code of this account is not found, and a malformed one is invalid.
      await expectRefusal(caller.verifyOtp({ email: EMAIL, otp: code, otpId: "no-such-request" }), {
        code: Code.NotFound,
        reason: "OTP_NOT_FOUND",
      });
      await expectRefusal(caller.verifyOtp({ email: EMAIL, otp: code, otpId: "not an id" }), {
        code: Code.InvalidArgument,
        reason: "INVALID_ARGUMENT",
        field: "otp_id",
      });
    });

    it("after the lock ends the burned code stays dead and a new code works", async () => {
      const { caller, server } = await serve(connect);
      await caller.requestOtp({ email: EMAIL });
      const burned = lastCode(server, EMAIL);
      for (let i = 0; i < 3; i++) {
        await rejection(caller.verifyOtp({ email: EMAIL, otp: wrong(burned) }));
      }
      server.clock.advance(10 * MINUTE);

      await expectRefusal(caller.verifyOtp({ email: EMAIL, otp: burned }), {
        code: Code.NotFound,
        reason: "OTP_NOT_FOUND",
      });
      await caller.requestOtp({ email: EMAIL });
      const fresh = lastCode(server, EMAIL);
      // The failure count started again from zero.
      await expectRefusal(caller.verifyOtp({ email: EMAIL, otp: wrong(fresh) }), {
        code: Code.Unauthenticated,
        reason: "OTP_MISMATCH",
        metadata: { attempts_remaining: "2" },
      });
      expect((await caller.verifyOtp({ email: EMAIL, otp: fresh })).authenticated).toBe(true);
    });
  });

  describe("idempotency keys", () => {
    it("a retry with the same key replays the first answer, sends nothing and uses no quota", async () => {
      const { caller, server } = await serve(connect);
      const first = await caller.requestOtp({ email: EMAIL }, { idempotencyKey: "key-1" });
      const replay = await caller.requestOtp({ email: EMAIL }, { idempotencyKey: "key-1" });
      expect(replay).toEqual(first);
      expect(first.remainingRequests).toBe(2);
      expect(codesSent(server)).toHaveLength(1);
      expect((await caller.requestOtp({ email: EMAIL })).remainingRequests).toBe(1);
    });

    it("a key reused for another purpose is IDEMPOTENCY_KEY_MISMATCH", async () => {
      const { caller, server } = await serve(connect);
      await caller.requestOtp({ email: EMAIL }, { idempotencyKey: "key-1" });
      await expectRefusal(
        caller.requestOtp({ email: EMAIL, purpose: "reset" }, { idempotencyKey: "key-1" }),
        { code: Code.FailedPrecondition, reason: "IDEMPOTENCY_KEY_MISMATCH" },
      );
      expect(codesSent(server)).toHaveLength(1);
    });
  });

  it("a failed delivery is DELIVERY_FAILED, uses no quota, and the previous code keeps working", async () => {
    const { caller, server } = await serve(connect);
    expect((await caller.requestOtp({ email: EMAIL })).remainingRequests).toBe(2);
    const previous = lastCode(server, EMAIL);

    server.sender.fail(new Error("smtp: connection refused"));
    await expectRefusal(caller.requestOtp({ email: EMAIL }), {
      code: Code.Unavailable,
      reason: "DELIVERY_FAILED",
    });
    server.sender.fail(null);

    expect((await caller.verifyOtp({ email: EMAIL, otp: previous })).authenticated).toBe(true);
    expect((await caller.requestOtp({ email: EMAIL })).remainingRequests).toBe(1);
    expect(server.internalErrors).toEqual([]);
  });

  it("an unreachable store is STORAGE_UNAVAILABLE", async () => {
    // The failing store stands in for a database that cannot be reached: what is under test is
    // how the refusal the store port defines for that leaves the service.
    const store = createFailingStore(
      () => new OtpError({ kind: "storage_unavailable" }, "the database cannot be reached"),
    );
    const { caller, server } = await serve(connect, {}, { store });
    const unavailable = { code: Code.Unavailable, reason: "STORAGE_UNAVAILABLE" };
    await expectRefusal(caller.requestOtp({ email: EMAIL }), unavailable);
    await expectRefusal(caller.verifyOtp({ email: EMAIL, otp: "123456" }), unavailable);
    if (caller.getStatus !== undefined) {
      await expectRefusal(caller.getStatus({ email: EMAIL }), unavailable);
    }
    expect(server.internalErrors).toEqual([]);
  });

  it("an unexpected error is INTERNAL, tells the client nothing and is kept for operators", async () => {
    const bug = new Error("connection string postgres://otp:s3cret@db/otp is malformed");
    const { caller, server } = await serve(connect, {}, { store: createFailingStore(() => bug) });
    const error = await rejection(caller.verifyOtp({ email: EMAIL, otp: "123456" }));
    expect(Code[error.code]).toBe(Code[Code.Internal]);
    expect(error.rawMessage).toBe("internal error");
    expect(detailsOf(error).errorInfo).toBeUndefined();
    expect(server.internalErrors).toEqual([bug]);
    expect(server.internalErrors[0]).toBe(bug);
  });
});

// AdminService is served on the main port's Connect, gRPC and gRPC-Web and on GRPC_PORT, not by
// REST (no routes) or seed B's dialect: its rows are held to the doors that serve it.
const adminCallers = callers.filter(
  ([name]) => !name.startsWith("REST") && !name.startsWith("seed B"),
);

describe.each(adminCallers)("the error table's AdminService rows over %s", (_name, connect) => {
  const getUser = (caller: Caller, ...args: Parameters<NonNullable<Caller["getUser"]>>) =>
    caller.getUser?.(...args) ?? Promise.reject(new Error("this caller has no GetUser"));

  it("GetUser of an unknown user is NOT_FOUND USER_NOT_FOUND", async () => {
    const { caller } = await serve(connect);
    for (const name of [
      { email: EMAIL },
      { userId: "AAAAAAAAAAAAAAAAAAAAAA" },
      { externalId: "x" },
    ]) {
      await expectRefusal(getUser(caller, name), { code: Code.NotFound, reason: "USER_NOT_FOUND" });
    }
  });

  it("without a service token, or with none configured, CALLER_UNAUTHENTICATED", async () => {
    const envs: Record<string, string>[] = [{}, { SERVICE_TOKENS: "", STATUS_BY_EMAIL: "open" }];
    for (const env of envs) {
      const { caller } = await serve(connect, env);
      await expectRefusal(getUser(caller, { email: EMAIL }, { anonymous: true }), {
        code: Code.Unauthenticated,
        reason: "CALLER_UNAUTHENTICATED",
      });
    }
  });

  it("a page_token ListAuditEvents never answered is INVALID_ARGUMENT naming page_token", async () => {
    const { caller } = await serve(connect);
    const list = caller.listAuditEvents ?? (() => Promise.reject(new Error("no ListAuditEvents")));
    await expectRefusal(list({ email: EMAIL, pageToken: "not-a-page-token" }), {
      code: Code.InvalidArgument,
      reason: "INVALID_ARGUMENT",
      field: "page_token",
      metadata: { field: "page_token" },
    });
  });

  it("a malformed user_id is INVALID_ARGUMENT naming user_id", async () => {
    const { caller } = await serve(connect);
    await expectRefusal(getUser(caller, { userId: "not an id" }), {
      code: Code.InvalidArgument,
      reason: "INVALID_ARGUMENT",
      field: "user_id",
      metadata: { field: "user_id" },
    });
  });
});

describe("a client's own deadline is DEADLINE_EXCEEDED without ErrorInfo", () => {
  /** A server whose sender holds the code until the test ends, so RequestOtp outlives 200 ms. */
  async function serveHeld() {
    const sender = createHoldingSender();
    const server = await startTestServer({ OTP_IP_REQUEST_LIMIT: "off" }, { sender });
    cleanups.push(
      () => server.close(),
      () => sender.release(),
    );
    return { server, sender };
  }

  it.each(protocols)("over connect-node %s", async (protocol) => {
    const { server, sender } = await serveHeld();
    const client = createAuthClient(protocol, server.baseUrl);
    const error = await rejection(client.requestOtp({ email: EMAIL }, { timeoutMs: 200 }));
    expect(Code[error.code]).toBe(Code[Code.DeadlineExceeded]);
    expect(detailsOf(error).errorInfo).toBeUndefined();
    // The call was waiting on delivery, not refused before it.
    expect((await sender.started).email).toBe(EMAIL);
  });

  it.each(Object.keys(doors) as Door[])("over @grpc/grpc-js at %s", async (door) => {
    const { server, sender } = await serveHeld();
    const client = createGrpcJsClient(doors[door](server));
    cleanups.push(() => client.close());
    const error = await rejection(
      callGrpcJs(client, "RequestOtp", create(RequestOtpRequestSchema, { email: EMAIL }), {
        deadline: new Date(Date.now() + 200),
      }),
    );
    expect(Code[error.code]).toBe(Code[Code.DeadlineExceeded]);
    expect(detailsOf(error).errorInfo).toBeUndefined();
    expect((await sender.started).email).toBe(EMAIL);
  });
});

describe("where retry-after travels on the wire", () => {
  const path = "/auth.v1.AuthService/RequestOtp";
  const message = toBinary(
    RequestOtpRequestSchema,
    create(RequestOtpRequestSchema, { email: EMAIL }),
  );

  /** A server on which EMAIL has just used its only request of the hour. */
  async function serveExhausted() {
    const { server, caller } = await serve(connectNodeCaller("grpc"), {
      OTP_REQUEST_LIMIT: "1/1h",
    });
    await caller.requestOtp({ email: EMAIL });
    server.clock.advance(30 * MINUTE);
    return server;
  }

  it("Connect: an HTTP response header", async () => {
    const server = await serveExhausted();
    const res = await fetch(`${server.baseUrl}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: EMAIL }),
    });
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("1800");
    const error = errorFromConnectResponse(res.status, new Uint8Array(await res.arrayBuffer()));
    expect(detailsOf(error).retryInfo?.retryDelay?.seconds).toBe(1800n);
  });

  // connect-node sends headers, then trailers; grpc-js answers an error Trailers-Only (one block
  // ending the stream, which gRPC reads as trailers). Either way retry-after goes with the status.
  it.each([
    ["the main port", "headers, then trailers"],
    ["GRPC_PORT", "trailers-only"],
  ] as const)("gRPC at %s: a trailer, not a header (%s)", async (door, shape) => {
    const server = await serveExhausted();
    const res = await http2Request(doors[door](server), {
      path,
      headers: { "content-type": "application/grpc", te: "trailers" },
      body: envelope(message),
    });
    expect(res.status).toBe(200);
    const trailer = shape === "trailers-only" ? res.headers : res.trailers;
    expect(res.trailers.has("grpc-status")).toBe(shape !== "trailers-only");
    if (shape !== "trailers-only") {
      expect(res.headers.get("retry-after")).toBeNull();
    }
    expect(trailer.get("retry-after")).toBe("1800");
    const error = errorFromGrpcStatus(trailer);
    expect(detailsOf(error).errorInfo?.reason).toBe("OTP_REQUEST_LIMIT");
    expect(detailsOf(error).retryInfo?.retryDelay?.seconds).toBe(1800n);
  });

  it("gRPC-Web: the trailer envelope, not a header", async () => {
    const server = await serveExhausted();
    const res = await fetch(`${server.baseUrl}${path}`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web+proto" },
      body: envelope(message),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("retry-after")).toBeNull();
    const trailer = grpcWebTrailer(new Uint8Array(await res.arrayBuffer()));
    expect(trailer.get("retry-after")).toBe("1800");
    const error = errorFromGrpcStatus(trailer);
    expect(detailsOf(error).errorInfo?.reason).toBe("OTP_REQUEST_LIMIT");
    expect(detailsOf(error).retryInfo?.retryDelay?.seconds).toBe(1800n);
  });
});

describe("the body row", () => {
  it.each(Object.keys(doors) as Door[])(
    "an undecodable gRPC message at %s is INVALID_ARGUMENT naming body",
    async (door) => {
      const { server } = await serve(connectNodeCaller("grpc"));
      const res = await http2Request(doors[door](server), {
        path: "/auth.v1.AuthService/RequestOtp",
        headers: { "content-type": "application/grpc", te: "trailers" },
        // Field 1 (email) as a length-delimited string that claims more bytes than follow.
        body: envelope(Uint8Array.of(0x0a, 0x7f, 0x61)),
      });
      const status = res.trailers.has("grpc-status") ? res.trailers : res.headers;
      await expectRefusal(Promise.reject(errorFromGrpcStatus(status)), {
        code: Code.InvalidArgument,
        reason: "INVALID_ARGUMENT",
        field: "body",
      });
      expect(codesSent(server)).toHaveLength(0);
    },
  );

  it("an unparsable JSON body is INVALID_ARGUMENT naming body (more in malformed-requests)", async () => {
    const { server } = await serve(connectNodeCaller("connect-json-h1"));
    const res = await fetch(`${server.baseUrl}/auth.v1.AuthService/RequestOtp`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"email":',
    });
    await expectRefusal(
      Promise.reject(
        errorFromConnectResponse(res.status, new Uint8Array(await res.arrayBuffer()), res.headers),
      ),
      { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "body" },
    );
    expect(res.status).toBe(400);
  });
});
