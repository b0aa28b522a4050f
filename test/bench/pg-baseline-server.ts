// The PostgreSQL ceiling: the service's own HTTP stack (one-port listener, connect-node router
// with the service's options) and a pg Pool with the service's settings (POOL), serving one RPC
// (the health Check path, so the load generator calls it like the service's no-op) that makes one
// single-statement round trip. No domain, no logging, no metrics: what one round trip costs
// through this stack, so that an RPC making N round trips can be compared with it. The statement
// is a named prepared statement (parsed once per connection, then only bound), as the store's are.

import pg from "pg";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/health/v1/health_pb.js";
import { createCallPipeline } from "../../src/rpc/call-pipeline.js";
import { createClientAddressResolver } from "../../src/rpc/client-address.js";
import { createConnectDoor } from "../../src/server/connect-door.js";
import { createHttpSurface } from "../../src/server/http-surface.js";
import { listen } from "../../src/server/listener.js";
import { POOL } from "../../src/storage/postgres/open-postgres.js";

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, ...POOL });
pool.on("error", () => {});
let calls = 0;
// The service's pipeline without an observer: no logging, no metrics.
const pipeline = createCallPipeline({ resolveClientAddress: createClientAddressResolver([]) });
const listener = await listen(
  createHttpSurface({
    pipeline,
    doors: [
      createConnectDoor(
        (router) =>
          router.service(Health, {
            async check() {
              // A named, parameterised statement, like every statement the store sends.
              await pool.query({
                name: "baseline",
                text: "SELECT $1::bigint AS n",
                values: [calls++],
              });
              return { status: HealthCheckResponse_ServingStatus.SERVING };
            },
          }),
        pipeline,
      ),
    ],
  }),
  { port: 0, host: "127.0.0.1" },
);
process.stdout.write(`listening on ${listener.port}\n`);
process.on("SIGTERM", () => {
  void listener
    .close(1_000)
    .then(() => pool.end())
    .then(() => process.exit(0));
});
