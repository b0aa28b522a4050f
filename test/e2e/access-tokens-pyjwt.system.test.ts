import { afterEach, describe, expect, it } from "vitest";
import { verifyWithPyJwt } from "../support/pyjwt.js";
import { killServices } from "../support/service-process.js";
import { AUDIENCE, fetchJwks, forgeries, ISSUER, startSigningService } from "./signing-service.js";

// access-tokens.test.ts's verification, by a verifier outside Node that knows nothing but the
// JWKS document: PyJWT in a Python process (Debian's python3-jwt).

afterEach(() => {
  killServices();
});

const expected = { issuer: ISSUER, audience: AUDIENCE };

describe("access tokens, verified by PyJWT", () => {
  it("an EdDSA login token verifies against the JWKS alone", async () => {
    const signer = await startSigningService(["EdDSA"]);
    const verified = await signer.login();
    const { jwks } = await fetchJwks(signer.baseUrl);
    expect(verifyWithPyJwt(jwks, { eddsa: verified.accessToken as string }, expected)).toEqual({
      eddsa: `ok ${verified.userId}`,
    });
  });

  it.each(["ES256", "RS256"] as const)(
    "an %s login token verifies; another key's, alg none, a changed claim, a past exp, another audience do not",
    async (alg) => {
      const signer = await startSigningService([alg]);
      const verified = await signer.login();
      const token = verified.accessToken as string;
      const { jwks } = await fetchJwks(signer.baseUrl);
      const { otherKey, unsigned, changed, expired, otherAudience } = await forgeries(
        signer,
        token,
        alg,
      );
      const tokens = { token, otherKey, unsigned, changed, expired, otherAudience };
      expect(verifyWithPyJwt(jwks, tokens, expected)).toEqual({
        token: `ok ${verified.userId}`,
        otherKey: "rejected InvalidSignatureError",
        unsigned: expect.stringMatching(/^rejected /),
        changed: "rejected InvalidSignatureError",
        expired: "rejected ExpiredSignatureError",
        otherAudience: "rejected InvalidAudienceError",
      });
    },
  );
});
