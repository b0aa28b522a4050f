// The database ceilings' shared stack (pg-baseline-server.ts, mysql-baseline-server.ts): the
// service's own HTTP stack (one-port listener, connect-node router with the service's options)
// serving one RPC (the health Check path, so the load generator calls it like the service's no-op)
// that makes one single-statement round trip, and a second port serving the same RPC through a
// bare @grpc/grpc-js server (as test/bench/grpc-js-noop-server.ts does, no interceptor), the
// ceiling for GRPC_PORT. No domain, no logging, no metrics: what one round trip costs through
// this stack, so that an RPC making N round trips can be compared with it.

import { Health, HealthCheckResponse_ServingStatus } from "../../gen/health/v1/health_pb.js";
import { DEFAULT_SERVE_LIMITS } from "../../src/config/serve-limits.js";
import { createCallPipeline } from "../../src/rpc/call-pipeline.js";
import { createClientAddressResolver } from "../../src/rpc/client-address.js";
import { createConnectDoor } from "../../src/server/connect/connect-door.js";
import { createHttpSurface } from "../../src/server/http-surface.js";
import { listen } from "../../src/server/listener.js";
import { startBareGrpcJs } from "./bare-grpc-js.js";

/**
 * Serves `oneStatement` per call on both ports, prints them (the grpc-js line first: the bench
 * reads it once it has seen the other), and on SIGTERM closes both and then `end`s the pool.
 */
export async function serveOneStatement(
  oneStatement: () => Promise<unknown>,
  end: () => Promise<void>,
): Promise<void> {
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
  process.stdout.write(`grpc-js listening on 127.0.0.1:${grpcPort}\n`);
  process.stdout.write(`listening on ${listener.port}\n`);
  process.on("SIGTERM", () => {
    grpcJs.forceShutdown();
    void listener
      .close(1_000)
      .then(end)
      .then(() => process.exit(0));
  });
}
