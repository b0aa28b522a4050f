import type { AddressInfo } from "node:net";
import { createServer, type Server } from "node:net";
import express from "express";
import { auth } from "express-oauth2-jwt-bearer";
import { createRemoteJWKSet, decodeJwt, jwtVerify } from "jose";
import { afterEach, describe, expect, it } from "vitest";
import { killServices } from "../support/service-process.js";
import { forgeries, startSigningService } from "./signing-service.js";

// Resource servers configured the usual way — with nothing but the issuer URL and an audience —
// find this service's keys through its discovery documents (RFC 8414, and OpenID Connect's
// well-known path) and verify its RFC 9068 access tokens: jose's createRemoteJWKSet led there by
// the document, and a real Express app protected by Auth0's express-oauth2-jwt-bearer.

afterEach(() => {
  killServices();
});

/** A port nothing listens on now, for a service whose issuer URL must name its own port. */
async function freePort(): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A service whose issuer is its own loopback URL (development), signing with `alg`. */
async function startIssuer(alg: "ES256" | "RS256", env: Record<string, string> = {}) {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const signer = await startSigningService([alg], {
    PORT: String(port),
    ACCESS_TOKEN_ISSUER: issuer,
    ACCESS_TOKEN_AUDIENCE: "",
    ...env,
  });
  return { signer, issuer };
}

describe("discovery", () => {
  it("publishes RFC 8414 metadata at both well-known paths, naming the JWKS and introspection", async () => {
    const { signer, issuer } = await startIssuer("ES256");
    for (const path of [
      "/.well-known/oauth-authorization-server",
      "/.well-known/openid-configuration",
    ]) {
      const res = await fetch(`${issuer}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("cache-control")).toBe("public, max-age=600");
      expect(res.headers.get("access-control-allow-origin")).toBe("*");
      expect(await res.json()).toEqual({
        issuer,
        jwks_uri: `${issuer}/.well-known/jwks.json`,
        introspection_endpoint: `${issuer}/oauth/introspect`,
        introspection_endpoint_auth_methods_supported: ["bearer"],
        response_types_supported: [],
        grant_types_supported: [],
        subject_types_supported: ["public"],
        access_token_signing_alg_values_supported: ["ES256"],
      });
    }
    expect(signer.baseUrl).toBe(issuer);
  });

  it("is off while the issuer is a name, not a URL", async () => {
    const signer = await startSigningService(["ES256"], { ACCESS_TOKEN_ISSUER: "otp-auth" });
    const res = await fetch(`${signer.baseUrl}/.well-known/openid-configuration`);
    expect(res.status).toBe(404);
  });

  it("leads jose's createRemoteJWKSet to the keys: RFC 9068 claims, aud defaulting to the issuer", async () => {
    const { signer, issuer } = await startIssuer("ES256");
    const metadata = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as {
      issuer: string;
      jwks_uri: string;
    };
    const jwks = createRemoteJWKSet(new URL(metadata.jwks_uri));
    const verified = await signer.login();
    const { payload } = await jwtVerify(verified.accessToken as string, jwks, {
      issuer: metadata.issuer,
      audience: metadata.issuer,
      typ: "at+jwt",
      algorithms: ["ES256"],
    });
    expect(payload).toMatchObject({
      iss: issuer,
      aud: issuer,
      client_id: "otp-auth",
      sub: verified.userId,
      sid: verified.sessionId,
      jti: expect.any(String),
    });
  });
});

describe("an Express API protected by express-oauth2-jwt-bearer with only the issuer URL and audience", () => {
  /** The API: GET /me answers the token's subject, or the middleware's refusal. */
  async function startApi(issuer: string, audience: string) {
    const app = express();
    app.use(auth({ issuerBaseURL: issuer, audience }));
    app.get("/me", (req, res) => {
      res.json({ sub: req.auth?.payload.sub });
    });
    const server = app.listen(0, "127.0.0.1");
    await new Promise<void>((resolve) => server.once("listening", () => resolve()));
    const { port } = server.address() as AddressInfo;
    const call = async (token: string) => {
      const res = await fetch(`http://127.0.0.1:${port}/me`, {
        headers: { authorization: `Bearer ${token}` },
      });
      return { status: res.status, body: res.status === 200 ? await res.json() : undefined };
    };
    return { call, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  }

  it.each(["RS256", "ES256"] as const)(
    "accepts a fresh %s token, refuses an expired one, another audience's and another key's",
    async (alg) => {
      const { signer, issuer } = await startIssuer(alg);
      const api = await startApi(issuer, issuer);
      try {
        const token = (await signer.login()).accessToken as string;
        expect(await api.call(token)).toEqual({ status: 200, body: { sub: decodeJwt(token).sub } });
        const { expired, otherAudience, otherKey, unsigned } = await forgeries(signer, token, alg);
        for (const refused of [expired, otherAudience, otherKey, unsigned]) {
          expect((await api.call(refused)).status).toBe(401);
        }
      } finally {
        await api.close();
      }
    },
  );
});
