// The PostgreSQL ceiling: the service's own HTTP stack (one-port listener, connect-node router
// with the service's options) and a pg Pool with the service's settings (poolSettings), serving one RPC
// (the health Check path, so the load generator calls it like the service's no-op) that makes one
// single-statement round trip. No domain, no logging, no metrics: what one round trip costs
// through this stack, so that an RPC making N round trips can be compared with it. The statement
// is sent through the store's query helper, so it is named or unnamed as the store's are
// (DATABASE_POOLER). A second port serves the same RPC through a bare @grpc/grpc-js server (as
// test/bench/grpc-js-noop-server.ts does, no interceptor), the ceiling for GRPC_PORT.

import pg from "pg";
import { Health, HealthCheckResponse_ServingStatus } from "../../gen/health/v1/health_pb.js";
import { DEFAULT_SERVE_LIMITS } from "../../src/config/serve-limits.js";
import { createCallPipeline } from "../../src/rpc/call-pipeline.js";
import { createClientAddressResolver } from "../../src/rpc/client-address.js";
import { createConnectDoor } from "../../src/server/connect/connect-door.js";
import { createHttpSurface } from "../../src/server/http-surface.js";
import { listen } from "../../src/server/listener.js";
import { poolSettings } from "../../src/storage/postgres/open-postgres.js";
import { createQuery, type Pooler } from "../../src/storage/postgres/query.js";
import { startBareGrpcJs } from "./bare-grpc-js.js";

const pooler = (process.env.DATABASE_POOLER ?? "none") as Pooler;
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, ...poolSettings(pooler) });
pool.on("error", () => {});
const query = createQuery(pool, pooler);
let calls = 0;
// A parameterised statement sent as the store sends its own (named unless behind a transaction
// pooler).
const oneStatement = () => query("baseline", "SELECT $1::bigint AS n", [calls++]);
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
              await oneStatement();
              return { status: HealthCheckResponse_ServingStatus.SERVING };
            },
          }),
        pipeline,
        DEFAULT_SERVE_LIMITS,
      ),
    ],
  }),
  { port: 0, host: "127.0.0.1" },
);
const { server: grpcJs, port: grpcPort } = await startBareGrpcJs(oneStatement);
// The grpc-js line first: the bench reads it once it has seen the other.
process.stdout.write(`grpc-js listening on 127.0.0.1:${grpcPort}\n`);
process.stdout.write(`listening on ${listener.port}\n`);
process.on("SIGTERM", () => {
  grpcJs.forceShutdown();
  void listener
    .close(1_000)
    .then(() => pool.end())
    .then(() => process.exit(0));
});
