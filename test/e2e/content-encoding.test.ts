import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { envelope, http1Request, http2Request } from "../support/raw-requests.js";
import { SERVICE_TOKEN, serviceAuthorization } from "../support/service-token.js";
import { startTestServer, type TestServer } from "../support/test-server.js";

// A request body compressed with an encoding the service does not decode is a client's mistake:
// over Connect an INVALID_ARGUMENT naming the body (HTTP 400, not connect's own 501), over gRPC
// and gRPC-Web the UNIMPLEMENTED with grpc-accept-encoding that gRPC specifies; never an internal
// error, and logged below error level.

const PATH = "/auth.v1.AuthService/GetStatus";
const JSON_BODY = '{"email":"ada@example.com"}';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ SERVICE_TOKENS: SERVICE_TOKEN });
});

afterAll(() => server.close());

/** The outcome the service logged for its last call. */
function lastLoggedCode(): unknown {
  return server.logs.filter((entry) => entry.msg === "rpc").at(-1)?.code;
}

describe("a request body in an encoding the service does not decode", () => {
  it.each([
    ["HTTP/1.1", http1Request],
    ["HTTP/2", http2Request],
  ] as const)(
    "is a 400 INVALID_ARGUMENT over Connect on %s, naming the encodings it takes",
    async (_, send) => {
      const res = await send(server.port, {
        path: PATH,
        headers: { "content-type": "application/json", "content-encoding": "zstd" },
        body: JSON_BODY,
      });

      expect(res.status).toBe(400);
      const body = JSON.parse(res.body.toString());
      expect(body).toMatchObject({ code: "invalid_argument" });
      expect(body.message).toContain('unknown compression "zstd"');
      expect(res.headers.get("accept-encoding")).toBe("gzip,br");
      expect(lastLoggedCode()).toBe("INVALID_ARGUMENT");
      expect(server.internalErrors).toEqual([]);
    },
  );

  it("is a 400 INVALID_ARGUMENT over a Connect GET asking for it", async () => {
    const res = await http1Request(server.port, {
      method: "GET",
      path: `${PATH}?encoding=json&compression=zstd&message=${encodeURIComponent(JSON_BODY)}`,
    });

    expect(res.status).toBe(400);
    expect(lastLoggedCode()).toBe("INVALID_ARGUMENT");
  });

  it("is UNIMPLEMENTED over gRPC, with grpc-accept-encoding", async () => {
    const res = await http2Request(server.port, {
      path: PATH,
      headers: { "content-type": "application/grpc", te: "trailers", "grpc-encoding": "zstd" },
      body: envelope(new Uint8Array(), 1),
    });

    expect(res.status).toBe(200);
    // In the trailers, or in the headers of a trailers-only answer.
    const status = (name: string) => res.trailers.get(name) ?? res.headers.get(name);
    expect(status("grpc-status")).toBe("12");
    expect(status("grpc-accept-encoding")).toBe("gzip,br");
    expect(lastLoggedCode()).toBe("UNIMPLEMENTED");
  });

  it("is UNIMPLEMENTED over gRPC-Web", async () => {
    const res = await http1Request(server.port, {
      path: PATH,
      headers: { "content-type": "application/grpc-web+proto", "grpc-encoding": "zstd" },
      body: envelope(new Uint8Array(), 1),
    });

    expect(res.body.toString("latin1")).toContain("grpc-status: 12");
    expect(lastLoggedCode()).toBe("UNIMPLEMENTED");
    expect(server.internalErrors).toEqual([]);
  });
});

describe("a supported encoding", () => {
  it("is recognised in any letter case, as HTTP content codings are", async () => {
    const res = await http1Request(server.port, {
      path: PATH,
      headers: {
        "content-type": "application/json",
        "content-encoding": "GZip",
        ...serviceAuthorization,
      },
      body: gzipSync(JSON_BODY),
    });

    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString())).toEqual({});
  });
});
