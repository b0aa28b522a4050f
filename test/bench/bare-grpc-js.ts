import * as grpc from "@grpc/grpc-js";

const passThrough = (value: Buffer) => value;
// An empty answer: the service's ({status: SERVING}) is 2 bytes, which is noise.
const EMPTY = Buffer.alloc(0);

/**
 * A bare @grpc/grpc-js server on a free loopback port: one unary handler at the health Check
 * path (so that the load generator calls it exactly as it calls the service's), no interceptors,
 * logging or metrics. Each call awaits `work`, if given, and answers an empty message.
 */
export async function startBareGrpcJs(
  work?: () => Promise<unknown>,
): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  server.addService(
    {
      Check: {
        path: "/grpc.health.v1.Health/Check",
        requestStream: false,
        responseStream: false,
        requestSerialize: passThrough,
        requestDeserialize: passThrough,
        responseSerialize: passThrough,
        responseDeserialize: passThrough,
      },
    },
    {
      Check: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => {
        if (work === undefined) {
          callback(null, EMPTY);
          return;
        }
        work().then(
          () => callback(null, EMPTY),
          (error: Error) => callback(error),
        );
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return { server, port };
}
