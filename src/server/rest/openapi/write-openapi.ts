// `npm run generate`'s step after buf: writes the OpenAPI document of the REST routes to
// gen/openapi/openapi.json (or to the file named as the first argument, as CI's freshness check
// does), from the generated descriptors, byte for byte what the service serves at /openapi.json.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import type { ServiceImpl } from "@connectrpc/connect";
import type { AdminService } from "../../../../gen/auth/v1/admin_pb.js";
import type { AuthService } from "../../../../gen/auth/v1/auth_pb.js";
import { collectMethodImpls } from "../../../rpc/method-impls.js";
import { createRoutes } from "../../../rpc/routes.js";
import { httpRoutesOf } from "../http-rules.js";
import { createOpenApiDocument, openApiText } from "./openapi-document.js";

const out =
  process.argv[2] ??
  fileURLToPath(new URL("../../../../gen/openapi/openapi.json", import.meta.url));
// The methods the server registers, read from its one routes function; no handler is ever called.
const routes = createRoutes({} as ServiceImpl<typeof AuthService>, {
  health: { state: () => "serving", subscribe: () => () => {} },
  admin: {} as ServiceImpl<typeof AdminService>,
});
const methods = collectMethodImpls(routes).map((spec) => spec.method);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, openApiText(createOpenApiDocument(httpRoutesOf(methods))));
