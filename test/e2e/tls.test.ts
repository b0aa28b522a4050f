import { X509Certificate } from "node:crypto";
import { once } from "node:events";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import * as http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tls from "node:tls";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { AuthService, RequestOtpRequestSchema } from "../../gen/auth/v1/auth_pb.js";
import { createSharedChromium } from "../support/chromium.js";
import { createGrpcJsClient } from "../support/clients.js";
import { callGrpcJs } from "../support/raw-requests.js";
import { killServices, spawnService, startService } from "../support/service-process.js";
import { asService, SERVICE_TOKEN } from "../support/service-token.js";

// The real process with TLS_CERT_FILE and TLS_KEY_FILE set to throwaway self-signed certificates
// (test/support/tls: localhost and 127.0.0.1; "renewed" stands for the next year's certificate).

const TLS_DIR = fileURLToPath(new URL("../support/tls/", import.meta.url));
const ORIGINAL = { cert: join(TLS_DIR, "localhost.crt"), key: join(TLS_DIR, "localhost.key") };
const RENEWED = { cert: join(TLS_DIR, "renewed.crt"), key: join(TLS_DIR, "renewed.key") };

let ca: Buffer[];
let dir: string;
/** The files the service is told to read; tests replace their contents. */
let files: { cert: string; key: string };
const chromium = createSharedChromium();

beforeAll(async () => {
  ca = [await readFile(ORIGINAL.cert), await readFile(RENEWED.cert)];
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "otp-auth-tls-"));
  files = { cert: join(dir, "server.crt"), key: join(dir, "server.key") };
  await install(ORIGINAL);
});

afterEach(async () => {
  killServices();
  await rm(dir, { recursive: true, force: true });
});

afterAll(() => chromium.close());

/** Puts `pair` where the service reads its certificate and key. */
async function install(pair: { cert: string; key: string }) {
  await copyFile(pair.cert, files.cert);
  await copyFile(pair.key, files.key);
}

function startTlsService(env: Record<string, string> = {}) {
  return startService({ TLS_CERT_FILE: files.cert, TLS_KEY_FILE: files.key, ...env });
}

/** A TLS connection offering `alpn`; resolves once the handshake is done. */
async function handshake(port: number, alpn: string[]): Promise<tls.TLSSocket> {
  const socket = tls.connect({ port, host: "127.0.0.1", ca, ALPNProtocols: alpn });
  await once(socket, "secureConnect");
  return socket;
}

/** The SHA-256 fingerprint of the certificate a new connection to `port` is served. */
async function servedFingerprint(port: number): Promise<string> {
  const socket = await handshake(port, ["h2"]);
  const fingerprint = socket.getPeerCertificate().fingerprint256;
  socket.destroy();
  return fingerprint;
}

async function fingerprintOf(file: string): Promise<string> {
  return new X509Certificate(await readFile(file)).fingerprint256;
}

/** A GET on an open HTTP/2 session; resolves with the status. */
async function get(session: http2.ClientHttp2Session, path: string): Promise<number> {
  const stream = session.request({ ":path": path });
  const [headers] = (await once(stream, "response")) as [http2.IncomingHttpHeaders];
  stream.resume();
  await once(stream, "end");
  return Number(headers[":status"]);
}

describe("the main port with TLS_CERT_FILE and TLS_KEY_FILE", () => {
  it("negotiates h2 by ALPN with a client offering it, and http/1.1 with one offering only that", async () => {
    const { port } = await startTlsService();

    const h2 = await handshake(port, ["h2", "http/1.1"]);
    const h1 = await handshake(port, ["http/1.1"]);

    expect([h2.alpnProtocol, h1.alpnProtocol]).toEqual(["h2", "http/1.1"]);
    h2.destroy();
    h1.destroy();
  });

  it.each(["1.1", "2"] as const)("answers Connect JSON over HTTPS/%s", async (httpVersion) => {
    const { port } = await startTlsService({ SERVICE_TOKENS: SERVICE_TOKEN });
    const client = createClient(
      AuthService,
      createConnectTransport({
        baseUrl: `https://127.0.0.1:${port}`,
        httpVersion,
        nodeOptions: { ca },
      }),
    );

    const issued = await client.requestOtp({ email: "ada@example.com" });
    const status = await client.getStatus({ email: "ada@example.com" }, asService);

    expect(issued.otpId).not.toBe("");
    expect(status.authenticated).toBe(false);
  });

  it("answers gRPC over TLS from @grpc/grpc-js and from connect-node", async () => {
    const { port } = await startTlsService({ SERVICE_TOKENS: SERVICE_TOKEN });
    const grpcJs = createGrpcJsClient(port, grpc.credentials.createSsl(Buffer.concat(ca)));
    const connectGrpc = createClient(
      AuthService,
      createGrpcTransport({ baseUrl: `https://127.0.0.1:${port}`, nodeOptions: { ca } }),
    );

    const fromGrpcJs = await callGrpcJs<{ otpId: string }>(
      grpcJs,
      "RequestOtp",
      create(RequestOtpRequestSchema, { email: "ada@example.com" }),
    );
    const fromConnect = await connectGrpc.getStatus({ email: "ada@example.com" }, asService);
    grpcJs.close();

    expect(fromGrpcJs.otpId).not.toBe("");
    expect(fromConnect.authenticated).toBe(false);
  });

  it("serves Chromium the login page over HTTP/2", async () => {
    const { port } = await startTlsService();
    const browser = await chromium.browser();
    // The certificate is self-signed: this context trusts it, as a browser trusts a real one.
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();

    const response = await page.goto(`https://127.0.0.1:${port}/`);
    // Which protocol the page itself came over (node's DOM-less lib has no type for it).
    const protocol = await page.evaluate(
      "performance.getEntriesByType('navigation')[0].nextHopProtocol",
    );
    await context.close();

    expect(response?.status()).toBe(200);
    expect(protocol).toBe("h2");
  });

  it("serves a renewed certificate after SIGHUP without dropping an open connection", async () => {
    const { service, port } = await startTlsService();
    expect(await servedFingerprint(port)).toBe(await fingerprintOf(ORIGINAL.cert));
    const open = http2.connect(`https://127.0.0.1:${port}`, { ca });
    expect(await get(open, "/healthz")).toBe(200);

    await install(RENEWED);
    service.child.kill("SIGHUP");
    await service.log({ msg: "reloaded TLS certificate" });

    expect(await servedFingerprint(port)).toBe(await fingerprintOf(RENEWED.cert));
    expect(await get(open, "/healthz")).toBe(200);
    expect(open.closed || open.destroyed).toBe(false);
    open.close();
  });

  it("keeps serving the certificate it has when SIGHUP finds unusable files", async () => {
    const { service, port } = await startTlsService();
    await writeFile(files.cert, "not a certificate");

    service.child.kill("SIGHUP");
    const logged = await service.log({ level: "error" });

    expect(String((logged.err as { message: string }).message)).toContain("TLS_CERT_FILE");
    expect(await servedFingerprint(port)).toBe(await fingerprintOf(ORIGINAL.cert));
  });

  it.each([
    ["TLS_CERT_FILE", () => ({ TLS_CERT_FILE: join(dir, "missing.crt"), TLS_KEY_FILE: files.key })],
    ["TLS_CERT_FILE", () => ({ TLS_CERT_FILE: files.key, TLS_KEY_FILE: files.key })],
    ["TLS_KEY_FILE", () => ({ TLS_CERT_FILE: files.cert, TLS_KEY_FILE: files.cert })],
    ["TLS_KEY_FILE", () => ({ TLS_CERT_FILE: files.cert, TLS_KEY_FILE: RENEWED.key })],
    ["TLS_KEY_FILE", () => ({ TLS_CERT_FILE: files.cert })],
    ["TLS_CERT_FILE", () => ({ TLS_KEY_FILE: files.key })],
  ])("refuses to start, naming %s, with %s", async (variable, env) => {
    const service = spawnService(env());

    const exit = await service.exited;

    expect(exit).toEqual({ code: 2, signal: null });
    expect(service.stderr()).toContain(`otp-auth: cannot start: ${variable}=`);
    expect(service.stdout()).not.toContain("listening");
  });
});

describe("GRPC_PORT (the grpc-js door) with TLS_CERT_FILE and TLS_KEY_FILE", () => {
  it("answers gRPC over TLS from @grpc/grpc-js, and refuses plaintext", async () => {
    const { grpcPort } = await startTlsService();
    const port = grpcPort as number;
    const overTls = createGrpcJsClient(port, grpc.credentials.createSsl(Buffer.concat(ca)));
    const plaintext = createGrpcJsClient(port);
    const request = create(RequestOtpRequestSchema, { email: "ada@example.com" });
    try {
      const answered = await callGrpcJs<{ otpId: string }>(overTls, "RequestOtp", request);
      expect(answered.otpId).not.toBe("");
      await expect(
        callGrpcJs(plaintext, "RequestOtp", request, { deadline: new Date(Date.now() + 2_000) }),
      ).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    } finally {
      overTls.close();
      plaintext.close();
    }
  });

  it("serves the renewed certificate after SIGHUP, as the main port does", async () => {
    const { service, grpcPort } = await startTlsService();
    const port = grpcPort as number;
    expect(await servedFingerprint(port)).toBe(await fingerprintOf(ORIGINAL.cert));

    await install(RENEWED);
    service.child.kill("SIGHUP");
    await service.log({ msg: "reloaded TLS certificate" });

    expect(await servedFingerprint(port)).toBe(await fingerprintOf(RENEWED.cert));
  });
});
