import * as http from "node:http";
import * as http2 from "node:http2";
import { createRegistry, fromJson, type JsonObject } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { errorFromJsonBytes } from "@connectrpc/connect/protocol-connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import { trailerFlag, trailerParse } from "@connectrpc/connect/protocol-grpc-web";
import { Metadata, type ServiceError, type StatusObject } from "@grpc/grpc-js";
import {
  ErrorInfoSchema,
  file_google_rpc_error_details,
} from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import type { createGrpcJsClient } from "./clients.js";

const detailRegistry = createRegistry(file_google_rpc_error_details);

/** What came back from a raw HTTP request. */
export interface RawResponse {
  readonly status: number;
  /** "1.1" or "2.0": the HTTP version the server answered with. */
  readonly httpVersion: string;
  readonly headers: Headers;
  /** HTTP/2 trailers (empty over HTTP/1.1). */
  readonly trailers: Headers;
  readonly body: Buffer;
}

export interface RawRequest {
  readonly method?: "GET" | "HEAD" | "POST";
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: Uint8Array | string;
}

/** One request over HTTP/1.1 on a fresh connection, with node:http. */
export function http1Request(port: number, request: RawRequest): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        method: request.method ?? "POST",
        path: request.path,
        headers: request.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", reject);
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            httpVersion: res.httpVersion,
            headers: toHeaders(res.headers),
            trailers: toHeaders(res.trailers),
            body: Buffer.concat(chunks),
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(request.body === undefined ? undefined : Buffer.from(request.body));
  });
}

/** One request over HTTP/2 without TLS (h2c, prior knowledge) on a fresh session, with node:http2. */
export function http2Request(port: number, request: RawRequest): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const stream = session.request({
      ":method": request.method ?? "POST",
      ":path": request.path,
      ...request.headers,
    });
    let head: http2.IncomingHttpHeaders = {};
    let tail: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on("response", (headers) => {
      head = headers;
    });
    stream.on("trailers", (trailers) => {
      tail = trailers;
    });
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", (error) => {
      session.close();
      reject(error);
    });
    stream.on("end", () => {
      session.close();
      resolve({
        status: Number(head[":status"]),
        httpVersion: "2.0",
        headers: toHeaders(head),
        trailers: toHeaders(tail),
        body: Buffer.concat(chunks),
      });
    });
    stream.end(request.body === undefined ? undefined : Buffer.from(request.body));
  });
}

/** A gRPC / gRPC-Web length-prefixed message: flags byte, 4-byte big-endian length, payload. */
export function envelope(payload: Uint8Array, flags = 0): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(payload.byteLength, 1);
  return Buffer.concat([head, payload]);
}

/** Splits a body into its envelopes; throws if the body is not a whole number of them. */
export function parseEnvelopes(body: Uint8Array): { flags: number; data: Buffer }[] {
  const bytes = Buffer.from(body);
  const envelopes: { flags: number; data: Buffer }[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    if (bytes.length - offset < 5) {
      throw new Error(`truncated envelope header at byte ${offset}`);
    }
    const flags = bytes.readUInt8(offset);
    const length = bytes.readUInt32BE(offset + 1);
    const end = offset + 5 + length;
    if (end > bytes.length) {
      throw new Error(`truncated envelope at byte ${offset}`);
    }
    envelopes.push({ flags, data: bytes.subarray(offset + 5, end) });
    offset = end;
  }
  return envelopes;
}

/** The trailer of a gRPC-Web response: the last envelope, flagged as trailer. */
export function grpcWebTrailer(body: Uint8Array): Headers {
  const last = parseEnvelopes(body).at(-1);
  if (last === undefined || (last.flags & trailerFlag) === 0) {
    throw new Error("the gRPC-Web response has no trailer envelope");
  }
  return trailerParse(last.data);
}

/**
 * The error a gRPC or gRPC-Web status (grpc-status, grpc-message, grpc-status-details-bin) carries,
 * decoded with its details; fails when the status is OK or missing.
 */
export function errorFromGrpcStatus(trailer: Headers): ConnectError {
  const error = findTrailerError(trailer);
  if (error === undefined) {
    throw new Error(`expected an error status, got grpc-status ${trailer.get("grpc-status")}`);
  }
  return error;
}

/**
 * The error a Connect unary response carries in its JSON body, with the response headers as its
 * metadata; fails on a 200.
 */
export function errorFromConnectResponse(
  status: number,
  body: Uint8Array,
  headers?: Headers,
): ConnectError {
  if (status === 200) {
    throw new Error("expected an error response, got HTTP 200");
  }
  return errorFromJsonBytes(body, headers, new ConnectError(`HTTP ${status}`, Code.Unknown));
}

// As gateways map gRPC codes (SPEC.md "REST"), written out here rather than imported, so that
// the REST door is checked against the contract, not against itself.
const REST_STATUS: Partial<Record<Code, number>> = {
  [Code.InvalidArgument]: 400,
  [Code.FailedPrecondition]: 400,
  [Code.Unauthenticated]: 401,
  [Code.NotFound]: 404,
  [Code.ResourceExhausted]: 429,
  [Code.DeadlineExceeded]: 504,
  [Code.Unavailable]: 503,
  [Code.Internal]: 500,
};

/**
 * The error in a REST answer (a google.rpc.Status JSON body), as a connect client would hold it:
 * details decoded from their `@type`, response headers (`retry-after`) as metadata. Throws when
 * the HTTP status is not the one SPEC.md maps the body's code to (MESSAGE_TOO_LARGE: 413).
 */
export function errorFromRestStatus(
  status: number,
  body: Uint8Array,
  headers: Headers,
): ConnectError {
  const json = JSON.parse(new TextDecoder().decode(body)) as JsonObject;
  const rpcStatus = fromJson(StatusSchema, json, { registry: detailRegistry });
  const code = rpcStatus.code as Code;
  const details = rpcStatus.details.map((any) => ({
    type: any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1),
    value: any.value,
  }));
  const error = new ConnectError(rpcStatus.message, code, headers);
  // Received details, undecoded until findDetails reads them, as connect's own clients hold them.
  error.details.push(...details);
  const tooLarge = error.findDetails(ErrorInfoSchema)[0]?.reason === "MESSAGE_TOO_LARGE";
  const expected = tooLarge ? 413 : REST_STATUS[code];
  if (status !== expected) {
    throw new Error(`HTTP ${status} for ${Code[code]}: the REST mapping says ${expected}`);
  }
  return error;
}

/**
 * The error in a @grpc/grpc-js ServiceError, decoded from grpc-status-details-bin as a connect
 * client would (grpc-js strips grpc-status and grpc-message, so they are put back). The other
 * trailers, such as `retry-after`, become the error's metadata.
 */
export function errorFromGrpcJsStatus(status: StatusObject): ConnectError {
  const trailer = new Headers({
    "grpc-status": String(status.code),
    "grpc-message": encodeURIComponent(status.details),
  });
  for (const [name, values] of Object.entries(status.metadata.toJSON())) {
    for (const value of values) {
      trailer.append(name, typeof value === "string" ? value : value.toString("base64"));
    }
  }
  return errorFromGrpcStatus(trailer);
}

/** A @grpc/grpc-js client made by `createGrpcJsClient` (or `createGrpcJsServiceClient`). */
export type GrpcJsClient = ReturnType<typeof createGrpcJsClient>;

/**
 * Calls unary `method` with @grpc/grpc-js; resolves with the response or rejects with the
 * ConnectError decoded from the status (see errorFromGrpcJsStatus).
 */
export function callGrpcJs<T>(
  client: GrpcJsClient,
  method: string,
  request: unknown,
  options: { metadata?: Record<string, string>; deadline?: Date } = {},
): Promise<T> {
  const metadata = new Metadata();
  for (const [name, value] of Object.entries(options.metadata ?? {})) {
    metadata.set(name, value);
  }
  const callOptions = options.deadline === undefined ? {} : { deadline: options.deadline };
  return new Promise<T>((resolve, reject) => {
    const call = client[method] as (...args: unknown[]) => unknown;
    call.call(client, request, metadata, callOptions, (error: ServiceError | null, response: T) => {
      if (error !== null) {
        reject(errorFromGrpcJsStatus(error));
      } else {
        resolve(response);
      }
    });
  });
}

function toHeaders(raw: http.IncomingHttpHeaders | NodeJS.Dict<string | string[]>): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    if (name.startsWith(":") || value === undefined) {
      continue;
    }
    for (const one of Array.isArray(value) ? value : [value]) {
      headers.append(name, String(one));
    }
  }
  return headers;
}
