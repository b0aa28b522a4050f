// The gRPC ceiling: a bare @grpc/grpc-js server with one no-op unary handler, at the health Check
// path so that the load generator calls it exactly as it calls the service's. No interceptors,
// logging or metrics: what a minimal Node gRPC server costs per call on this machine.

import * as grpc from "@grpc/grpc-js";

const server = new grpc.Server();
const passThrough = (value: Buffer) => value;
server.addService(
  {
    Check: {
      path: "/grpc.health.v1.Health/Check",
      requestStream: false,
      responseStream: false,
      requestSerialize: passThrough,
      requestDeserialize: passThrough,
      // An empty response; the service's answer ({status: SERVING}) is 2 bytes, which is noise.
      responseSerialize: passThrough,
      responseDeserialize: passThrough,
    },
  },
  {
    Check: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) =>
      callback(null, Buffer.alloc(0)),
  },
);
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error) {
    throw error;
  }
  process.stdout.write(`listening on ${port}\n`);
});
process.on("SIGTERM", () => server.tryShutdown(() => process.exit(0)));
