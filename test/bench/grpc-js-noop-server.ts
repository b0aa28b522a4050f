// The gRPC ceiling: a bare @grpc/grpc-js server with one no-op unary handler, at the health Check
// path so that the load generator calls it exactly as it calls the service's. No interceptors,
// logging or metrics: what a minimal Node gRPC server costs per call on this machine.

import { startBareGrpcJs } from "./bare-grpc-js.js";

const { server, port } = await startBareGrpcJs();
process.stdout.write(`listening on ${port}\n`);
process.on("SIGTERM", () => server.tryShutdown(() => process.exit(0)));
