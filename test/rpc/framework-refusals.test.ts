import { Code, ConnectError, createConnectRouter } from "@connectrpc/connect";
import {
  createAsyncIterable,
  readAllBytes,
  type UniversalServerResponse,
} from "@connectrpc/connect/protocol";
import { errorFromJsonBytes } from "@connectrpc/connect/protocol-connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import { describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/health/v1/health_pb.js";
import { DEFAULT_SERVE_LIMITS } from "../../src/config/serve-limits.js";
import { frameworkRefusalOf, unsupportedEncodingOf } from "../../src/rpc/framework-refusals.js";

const MAX_REQUEST_BYTES = DEFAULT_SERVE_LIMITS.maxRequestBytes;

// The connect door names the errors connect raises before a handler runs by their code and
// message (framework-refusals.ts). These are connect's own answers, straight from its router with
// the door's limits: an upgrade of connect that changes one fails here, not in production.

const router = createConnectRouter({ readMaxBytes: MAX_REQUEST_BYTES });
router.service(Health, { check: () => ({ status: HealthCheckResponse_ServingStatus.SERVING }) });
const check = router.handlers.find((handler) => handler.method.name === "Check");
if (check === undefined) {
  throw new Error("no Check handler");
}

async function send(contentType: string, body: Uint8Array, header: Record<string, string> = {}) {
  const res = await check?.({
    httpVersion: "2.0",
    method: "POST",
    url: "http://localhost/grpc.health.v1.Health/Check",
    header: new Headers({ "content-type": contentType, te: "trailers", ...header }),
    body: createAsyncIterable([body]),
    signal: new AbortController().signal,
  });
  return res as UniversalServerResponse;
}

/** connect's error in a gRPC answer (the trailer, once the body is read). */
async function grpcError(body: Uint8Array, header: Record<string, string> = {}) {
  const res = await send("application/grpc", body, header);
  await readAllBytes(res.body as AsyncIterable<Uint8Array>, Number.MAX_SAFE_INTEGER);
  return findTrailerError(res.trailer as Headers) as ConnectError;
}

function envelope(flags: number, payload: Uint8Array, length = payload.length) {
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(length, 1);
  return Buffer.concat([head, payload]);
}

describe("connect's refusals before a handler runs, as the door names them", () => {
  it('an undecodable protobuf body is INTERNAL "parse binary…"', async () => {
    const error = await grpcError(envelope(0, Buffer.from([0xff, 0xff, 0xff])));
    expect(error.code).toBe(Code.Internal);
    expect(error.rawMessage).toMatch(/^parse binary/);
    expect(frameworkRefusalOf(error)?.refusal.kind).toBe("undecodable_body");
  });

  it('an envelope flagged compressed without an encoding is INTERNAL "received compressed envelope…"', async () => {
    const error = await grpcError(envelope(1, Buffer.from([0x0a, 0x00])));
    expect(error.code).toBe(Code.Internal);
    expect(error.rawMessage).toMatch(/^received compressed envelope/);
    expect(frameworkRefusalOf(error)?.refusal.kind).toBe("undecodable_body");
  });

  it("an undecodable JSON body is INVALID_ARGUMENT", async () => {
    const res = await send("application/json", Buffer.from("{"));
    const bytes = await readAllBytes(res.body as AsyncIterable<Uint8Array>, 1 << 20);
    const error = errorFromJsonBytes(
      bytes,
      undefined,
      new ConnectError("unreadable", Code.Unknown),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    expect(frameworkRefusalOf(error)?.refusal.kind).toBe("undecodable_body");
  });

  it("a message over the limit is RESOURCE_EXHAUSTED", async () => {
    const error = await grpcError(envelope(0, Buffer.alloc(0), MAX_REQUEST_BYTES + 1));
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(frameworkRefusalOf(error)?.refusal.kind).toBe("message_too_large");
  });

  it('an unknown content-encoding over Connect is UNIMPLEMENTED "unknown compression…"', async () => {
    const res = await send("application/json", Buffer.from("{}"), {
      "content-encoding": "deflate",
    });
    const bytes = await readAllBytes(res.body as AsyncIterable<Uint8Array>, 1 << 20);
    const error = errorFromJsonBytes(
      bytes,
      undefined,
      new ConnectError("unreadable", Code.Unknown),
    );
    expect(error.code).toBe(Code.Unimplemented);
    expect(error.rawMessage).toMatch(/^unknown compression "deflate"/);
    expect(unsupportedEncodingOf(error)?.refusal.kind).toBe("unsupported_encoding");
    expect(frameworkRefusalOf(error)).toBeUndefined();
  });

  it("a method no protocol takes is HTTP 405 with no body to read", async () => {
    const res = await check?.({
      httpVersion: "1.1",
      method: "PUT",
      url: "http://localhost/grpc.health.v1.Health/Check",
      header: new Headers({ "content-type": "application/json" }),
      body: createAsyncIterable([Buffer.from("{}")]),
      signal: new AbortController().signal,
    });
    expect(res?.status).toBe(405);
    expect(res?.body).toBeUndefined();
  });

  it("an unsupported content type is HTTP 415 with no body to read", async () => {
    const res = await send("text/plain", Buffer.from("{}"));
    expect(res.status).toBe(415);
  });

  it("a transport deadline or an internal error is no framework refusal", () => {
    expect(frameworkRefusalOf(new ConnectError("late", Code.DeadlineExceeded))).toBeUndefined();
    expect(frameworkRefusalOf(new ConnectError("internal error", Code.Internal))).toBeUndefined();
  });
});
