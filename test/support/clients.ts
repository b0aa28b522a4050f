import {
  create,
  type DescMessage,
  type DescService,
  fromBinary,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import { type Client, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { AuthService } from "../../gen/auth/v1/auth_pb.js";
import {
  BadRequestSchema,
  ErrorInfoSchema,
  QuotaFailureSchema,
  RetryInfoSchema,
} from "../../gen/google/rpc/error_details_pb.js";
import {
  Health,
  type HealthCheckRequest,
  HealthCheckRequestSchema,
  type HealthCheckResponse,
  type HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
} from "../../gen/health/v1/health_pb.js";

/** The connect-node protocols a test can run over; each reaches the same port. */
export const protocols = ["connect-json-h1", "connect-proto-h2", "grpc", "grpc-web"] as const;
export type Protocol = (typeof protocols)[number];

/** A transport for `protocol` against `baseUrl`. */
export function createTransport(protocol: Protocol, baseUrl: string): Transport {
  switch (protocol) {
    case "connect-json-h1":
      return createConnectTransport({ baseUrl, httpVersion: "1.1" });
    case "connect-proto-h2":
      return createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true });
    case "grpc":
      return createGrpcTransport({ baseUrl });
    case "grpc-web":
      return createGrpcWebTransport({ baseUrl, httpVersion: "1.1" });
  }
}

/** A connect-node AuthService client. */
export function createAuthClient(protocol: Protocol, baseUrl: string): Client<typeof AuthService> {
  return createClient(AuthService, createTransport(protocol, baseUrl));
}

/** Runs `call` and returns the ConnectError it rejected with; fails if it resolved. */
export async function rejection(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail, but it succeeded");
}

/** The google.rpc details of a ConnectError, decoded. */
export function detailsOf(error: ConnectError) {
  return {
    errorInfo: error.findDetails(ErrorInfoSchema)[0],
    retryInfo: error.findDetails(RetryInfoSchema)[0],
    badRequest: error.findDetails(BadRequestSchema)[0],
    quotaFailure: error.findDetails(QuotaFailureSchema)[0],
  };
}

/**
 * An @grpc/grpc-js client for AuthService, as other services would use it, with protobuf-es
 * doing the (de)serialization so no .proto loading is involved.
 */
export function createGrpcJsClient(
  port: number,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
) {
  const method = <I extends DescMessage, O extends DescMessage>(
    name: string,
    input: I,
    output: O,
  ) => ({
    path: `/auth.v1.AuthService/${name}`,
    requestStream: false,
    responseStream: false,
    requestSerialize: (value: MessageShape<I>) => Buffer.from(toBinary(input, value)),
    requestDeserialize: (bytes: Buffer) => fromBinary(input, bytes),
    responseSerialize: (value: MessageShape<O>) => Buffer.from(toBinary(output, value)),
    responseDeserialize: (bytes: Buffer) => fromBinary(output, bytes),
  });
  const methods = AuthService.method;
  const Ctor = grpc.makeGenericClientConstructor(
    {
      RequestOtp: method("RequestOtp", methods.requestOtp.input, methods.requestOtp.output),
      VerifyOtp: method("VerifyOtp", methods.verifyOtp.input, methods.verifyOtp.output),
      GetStatus: method("GetStatus", methods.getStatus.input, methods.getStatus.output),
      SignOut: method("SignOut", methods.signOut.input, methods.signOut.output),
      ListSessions: method("ListSessions", methods.listSessions.input, methods.listSessions.output),
    },
    "AuthService",
  );
  return new Ctor(`127.0.0.1:${port}`, credentials) as grpc.Client &
    Record<string, (...args: unknown[]) => grpc.ClientUnaryCall>;
}

/**
 * An @grpc/grpc-js client for every unary method of `service` (by the method's proto name:
 * `GetUser`), with protobuf-es doing the (de)serialization; call it with `callGrpcJs`.
 */
export function createGrpcJsServiceClient(
  port: number,
  service: DescService,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
) {
  const definition: Record<string, grpc.MethodDefinition<object, object>> = {};
  for (const method of service.methods) {
    definition[method.name] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (value: object) =>
        Buffer.from(toBinary(method.input, create(method.input, value as Record<string, unknown>))),
      requestDeserialize: (bytes: Buffer) => fromBinary(method.input, bytes),
      responseSerialize: (value: object) =>
        Buffer.from(
          toBinary(method.output, create(method.output, value as Record<string, unknown>)),
        ),
      responseDeserialize: (bytes: Buffer) => fromBinary(method.output, bytes),
    };
  }
  const Ctor = grpc.makeGenericClientConstructor(definition, service.name);
  return new Ctor(`127.0.0.1:${port}`, credentials) as grpc.Client &
    Record<string, (...args: unknown[]) => grpc.ClientUnaryCall>;
}

/**
 * An @grpc/grpc-js client for grpc.health.v1.Health, as a load balancer or another gRPC service
 * would use it: `check` resolves with the status or rejects with the grpc-js ServiceError, `watch`
 * is the server stream (a Readable of responses).
 */
export function createGrpcJsHealthClient(port: number) {
  const { check, watch } = Health.method;
  const serializers = {
    requestSerialize: (value: HealthCheckRequest) =>
      Buffer.from(toBinary(HealthCheckRequestSchema, value)),
    requestDeserialize: (bytes: Buffer) => fromBinary(HealthCheckRequestSchema, bytes),
    responseSerialize: (value: HealthCheckResponse) =>
      Buffer.from(toBinary(HealthCheckResponseSchema, value)),
    responseDeserialize: (bytes: Buffer) => fromBinary(HealthCheckResponseSchema, bytes),
  };
  const Ctor = grpc.makeGenericClientConstructor(
    {
      Check: {
        path: `/${Health.typeName}/${check.name}`,
        requestStream: false,
        responseStream: false,
        ...serializers,
      },
      Watch: {
        path: `/${Health.typeName}/${watch.name}`,
        requestStream: false,
        responseStream: true,
        ...serializers,
      },
    },
    "Health",
  );
  const client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const request = (service: string) => create(HealthCheckRequestSchema, { service });
  return {
    check(service: string): Promise<HealthCheckResponse_ServingStatus> {
      return new Promise((resolve, reject) => {
        client.Check(
          request(service),
          (error: grpc.ServiceError | null, res?: HealthCheckResponse) =>
            error === null && res !== undefined ? resolve(res.status) : reject(error),
        );
      });
    },
    watch(service: string): grpc.ClientReadableStream<HealthCheckResponse> {
      return client.Watch(request(service));
    },
    close: () => client.close(),
  };
}
