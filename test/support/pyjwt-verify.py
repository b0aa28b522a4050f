# Verifies JWTs with PyJWT, fed only a JWKS document: an independent, non-Node verifier for the
# access-token tests. Reads {"jwks", "tokens": {name: token}, "issuer", "audience"} on stdin and
# prints {name: "ok <sub>" or "rejected <exception>"}.
import json
import sys

import jwt

request = json.load(sys.stdin)
keys = {key.key_id: key for key in jwt.PyJWKSet.from_dict(request["jwks"]).keys}
results = {}
for name, token in request["tokens"].items():
    try:
        header = jwt.get_unverified_header(token)
        if header.get("typ") != "at+jwt":
            raise jwt.InvalidTokenError("typ is not at+jwt")
        key = keys[header.get("kid")]
        claims = jwt.decode(
            token,
            key.key,
            algorithms=["ES256", "EdDSA", "RS256"],
            issuer=request["issuer"],
            audience=request["audience"],
            options={"require": ["exp", "iat", "iss", "sub", "aud", "jti"]},
        )
        results[name] = "ok " + claims["sub"]
    except Exception as error:  # every failure is a rejection; its class says which
        results[name] = "rejected " + type(error).__name__
print(json.dumps(results))
