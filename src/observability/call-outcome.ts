import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { Code, ConnectError } from "@connectrpc/connect";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import {
  codeFromHttpStatus,
  codeToString,
  endStreamFlag,
  endStreamFromJson,
  errorFromJsonBytes,
} from "@connectrpc/connect/protocol-connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import { trailerFlag, trailerParse } from "@connectrpc/connect/protocol-grpc-web";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { ERROR_DOMAIN } from "../rpc/error-mapping.js";

/** A call's final status: the gRPC code's name and the ErrorInfo reason, if any. */
export interface Status {
  readonly code: string;
  readonly reason?: string | undefined;
}

// Connect error bodies are small; a larger one is not read further for its status.
const MAX_ERROR_BODY_BYTES = 64 * 1024;
// Reasons this service sends look like this; anything else is left out of metric labels.
const REASON = /^[A-Z][A-Z0-9_]{0,63}$/;

/**
 * Returns `res` as it is for the client, and calls `settle` once with the status the client
 * receives, read where each protocol puts it: the HTTP status and error body (Connect unary), the
 * end-of-stream message (Connect streaming), the trailer (gRPC) or the trailer message (gRPC-Web).
 * That is after the response body has been read to its end; a body abandoned before its end (the
 * client went away) settles as CANCELED.
 */
export function watchStatus(
  res: UniversalServerResponse,
  settle: (status: Status) => void,
): UniversalServerResponse {
  const reader = readerFor(res);
  if (res.body === undefined) {
    settle(reader.status());
    return res;
  }
  return { ...res, body: watchBody(res.body, reader, settle) };
}

/** Gathers what it needs from the body's chunks, then tells the status once the body is done. */
interface StatusReader {
  read(chunk: Uint8Array): void;
  status(): Status;
}

async function* watchBody(
  body: AsyncIterable<Uint8Array>,
  reader: StatusReader,
  settle: (status: Status) => void,
) {
  let ended = false;
  try {
    for await (const chunk of body) {
      try {
        reader.read(chunk);
      } catch {
        // Watching must never break the response; the status then reads as UNKNOWN.
      }
      yield chunk;
    }
    ended = true;
  } finally {
    settle(ended ? reader.status() : { code: "CANCELED" });
  }
}

function readerFor(res: UniversalServerResponse): StatusReader {
  const contentType = res.header?.get("content-type") ?? "";
  if (contentType.startsWith("application/grpc-web")) {
    // connect sends the trailer as one final envelope with the trailer flag.
    let trailer: Headers | undefined;
    return {
      read(chunk) {
        if (chunk.length >= 5 && (chunk[0] as number) & trailerFlag) {
          trailer = trailerParse(chunk.subarray(5));
        }
      },
      status: () => (trailer === undefined ? { code: "UNKNOWN" } : fromTrailer(trailer)),
    };
  }
  if (contentType.startsWith("application/grpc")) {
    // connect fills in the trailer once the body is done.
    return {
      read() {},
      status: () => (res.trailer === undefined ? { code: "UNKNOWN" } : fromTrailer(res.trailer)),
    };
  }
  if (contentType.startsWith("application/connect+")) {
    let end: Uint8Array | undefined;
    return {
      read(chunk) {
        if (chunk.length >= 5 && (chunk[0] as number) & endStreamFlag) {
          end = decompress(chunk, res.header?.get("connect-content-encoding") ?? null);
        }
      },
      status() {
        if (end === undefined) {
          return { code: "UNKNOWN" };
        }
        try {
          return fromError(endStreamFromJson(end).error);
        } catch {
          return { code: "UNKNOWN" };
        }
      },
    };
  }
  // Connect unary: 200 is success; anything else carries the error as JSON.
  const chunks: Uint8Array[] = [];
  let size = 0;
  return {
    read(chunk) {
      if (res.status !== 200 && size + chunk.length <= MAX_ERROR_BODY_BYTES) {
        chunks.push(chunk);
        size += chunk.length;
      }
    },
    status() {
      if (res.status === 200) {
        return { code: "OK" };
      }
      const fallback = new ConnectError("", codeFromHttpStatus(res.status));
      try {
        return fromError(errorFromJsonBytes(Buffer.concat(chunks), undefined, fallback));
      } catch {
        return fromError(fallback);
      }
    },
  };
}

/** The end-of-stream message of an envelope, decompressed when its compressed flag is set. */
function decompress(envelope: Uint8Array, encoding: string | null): Uint8Array {
  const data = envelope.subarray(5);
  if (((envelope[0] as number) & 0b1) === 0) {
    return data;
  }
  return encoding === "br" ? brotliDecompressSync(data) : gunzipSync(data);
}

function fromTrailer(trailer: Headers): Status {
  if (trailer.get("grpc-status") === null) {
    return { code: "UNKNOWN" };
  }
  return fromError(findTrailerError(trailer));
}

function fromError(error: ConnectError | undefined): Status {
  if (error === undefined) {
    return { code: "OK" };
  }
  const info = findErrorInfo(error);
  const reason =
    info?.domain === ERROR_DOMAIN && REASON.test(info.reason) ? info.reason : undefined;
  return { code: codeName(error.code), reason };
}

function findErrorInfo(error: ConnectError) {
  try {
    return error.findDetails(ErrorInfoSchema)[0];
  } catch {
    return undefined;
  }
}

/** `Code.ResourceExhausted` → `RESOURCE_EXHAUSTED`, as gRPC names its codes. */
export function codeName(code: Code): string {
  return code in Code ? codeToString(code).toUpperCase() : "UNKNOWN";
}
