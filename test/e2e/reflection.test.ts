import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createFileRegistry, fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import {
  type FileDescriptorProto,
  FileDescriptorProtoSchema,
  MethodOptions_IdempotencyLevel,
} from "@bufbuild/protobuf/wkt";
import { Code, createClient } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type ServerReflectionRequestSchema,
  type ServerReflectionResponse,
  ServerReflection as ServerReflectionV1,
} from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { createTransport } from "../support/clients.js";
import {
  type GrpcDoor,
  grpcDoors,
  startTestServer,
  type TestServer,
} from "../support/test-server.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const buf = fileURLToPath(new URL("../../node_modules/.bin/buf", import.meta.url));

const ALL_SERVICES = [
  "auth.v1.AdminService",
  "auth.v1.AuthService",
  "grpc.health.v1.Health",
  "grpc.reflection.v1.ServerReflection",
  "grpc.reflection.v1alpha.ServerReflection",
];

let server: TestServer;

beforeEach(async () => {
  server = await startTestServer();
});

afterEach(async () => {
  await server.close();
});

/** Runs `buf curl` over gRPC with HTTP/2 prior knowledge and no schema, as an operator would. */
async function bufCurl(args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(
    buf,
    ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args],
    { cwd: repoRoot, timeout: 15_000 },
  );
  return stdout;
}

// At both gRPC doors: the main port's reflection is this service's own (src/rpc/reflection.ts),
// GRPC_PORT's is @grpc/reflection's, fed the same generated descriptors.
describe.each(
  ["grpc-v1", "grpc-v1alpha"].flatMap((protocol) =>
    Object.keys(grpcDoors).map((door) => [protocol, door as GrpcDoor] as const),
  ),
)("buf curl with reflection protocol %s at %s", (protocol, door) => {
  const baseUrl = () => `http://127.0.0.1:${grpcDoors[door](server)}`;

  it("lists every service the server registered", async () => {
    const out = await bufCurl(["--reflect-protocol", protocol, "--list-services", baseUrl()]);
    expect(out.trim().split("\n").sort()).toEqual(ALL_SERVICES);
  });

  it("lists AdminService's methods", async () => {
    const out = await bufCurl(["--reflect-protocol", protocol, "--list-methods", baseUrl()]);
    const admin = out
      .trim()
      .split("\n")
      .filter((method) => method.startsWith("auth.v1.AdminService/"));
    expect(admin.sort()).toEqual([
      "auth.v1.AdminService/DeleteUser",
      "auth.v1.AdminService/GetUser",
      "auth.v1.AdminService/ListAuditEvents",
      "auth.v1.AdminService/RevokeSessions",
    ]);
  });

  it("lists AuthService's methods", async () => {
    const out = await bufCurl(["--reflect-protocol", protocol, "--list-methods", baseUrl()]);
    expect(out.trim().split("\n")).toEqual(
      expect.arrayContaining([
        "auth.v1.AuthService/GetStatus",
        "auth.v1.AuthService/RequestOtp",
        "auth.v1.AuthService/VerifyOtp",
        "grpc.health.v1.Health/Check",
      ]),
    );
  });

  it("calls RequestOtp with JSON and no schema, learning it from the server", async () => {
    const out = await bufCurl([
      "--reflect-protocol",
      protocol,
      "-d",
      '{"email":"a@example.com"}',
      `${baseUrl()}/auth.v1.AuthService/RequestOtp`,
    ]);
    const issued = JSON.parse(out);
    expect(issued.otpId).toBe(server.sender.sent.at(-1)?.otpId);
    expect(issued).toMatchObject({ ttl: "300s", remainingRequests: 2, codeLength: 6 });
  });
});

type Request = MessageInitShape<typeof ServerReflectionRequestSchema>;

// v1alpha's messages are v1's under another package name, so one client type serves both.
const versions = {
  v1: ServerReflectionV1,
  v1alpha: ServerReflectionV1alpha as unknown as typeof ServerReflectionV1,
};

describe.each(Object.entries(versions))("ServerReflectionInfo %s", (_, service) => {
  /** Sends `requests` on one stream and collects every response. */
  async function ask(...requests: Request[]): Promise<ServerReflectionResponse[]> {
    const client = createClient(service, createTransport("grpc", server.baseUrl));
    const responses: ServerReflectionResponse[] = [];
    for await (const response of client.serverReflectionInfo(
      (async function* () {
        yield* requests;
      })(),
    )) {
      responses.push(response);
    }
    return responses;
  }

  async function askOne(request: Request): Promise<ServerReflectionResponse> {
    const [response, ...rest] = await ask(request);
    expect(rest).toEqual([]);
    return response as ServerReflectionResponse;
  }

  /** The files of a file_descriptor_response, decoded; fails on any other answer. */
  function filesOf(response: ServerReflectionResponse): FileDescriptorProto[] {
    if (response.messageResponse.case !== "fileDescriptorResponse") {
      throw new Error(`expected files, got ${response.messageResponse.case}`);
    }
    return response.messageResponse.value.fileDescriptorProto.map((bytes) =>
      fromBinary(FileDescriptorProtoSchema, bytes),
    );
  }

  function errorOf(response: ServerReflectionResponse) {
    if (response.messageResponse.case !== "errorResponse") {
      throw new Error(`expected an error, got ${response.messageResponse.case}`);
    }
    return response.messageResponse.value;
  }

  it("lists every registered service", async () => {
    const response = await askOne({ messageRequest: { case: "listServices", value: "" } });
    if (response.messageResponse.case !== "listServicesResponse") {
      throw new Error(`expected a service list, got ${response.messageResponse.case}`);
    }
    expect(response.messageResponse.value.service.map((s) => s.name).sort()).toEqual(ALL_SERVICES);
  });

  it("echoes the host and the request", async () => {
    const response = await askOne({
      host: "auth.internal",
      messageRequest: { case: "listServices", value: "*" },
    });
    expect(response.validHost).toBe("auth.internal");
    expect(response.originalRequest?.messageRequest).toEqual({ case: "listServices", value: "*" });
  });

  it("answers a service with its file first, then every file it imports", async () => {
    const files = filesOf(
      await askOne({
        messageRequest: { case: "fileContainingSymbol", value: "auth.v1.AuthService" },
      }),
    );
    expect(files.map((f) => f.name)).toEqual([
      "auth/v1/auth.proto",
      // The REST routes' google.api.http option.
      "google/api/annotations.proto",
      "google/api/http.proto",
      "google/protobuf/descriptor.proto",
      "google/protobuf/duration.proto",
      "google/protobuf/timestamp.proto",
    ]);
    // Together they are a complete schema: a registry resolves every import from them alone.
    const registry = createFileRegistry(files[0] as FileDescriptorProto, (name) =>
      files.find((file) => file.name === name),
    );
    const auth = registry.getService("auth.v1.AuthService");
    expect(auth?.methods.map((m) => m.name)).toEqual([
      "RequestOtp",
      "VerifyOtp",
      "GetStatus",
      "SignOut",
      "ListSessions",
      "IntrospectToken",
    ]);
    expect(auth?.methods[2]?.idempotency).toBe(MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS);
    expect(registry.getMessage("auth.v1.RequestOtpResponse")?.field.expiresAt?.number).toBe(2);
  });

  it.each([
    ["a method", "auth.v1.AuthService.VerifyOtp", "auth/v1/auth.proto"],
    ["a message", "auth.v1.VerifyOtpRequest", "auth/v1/auth.proto"],
    ["a field", "auth.v1.RequestOtpRequest.email", "auth/v1/auth.proto"],
    ["a nested enum", "grpc.health.v1.HealthCheckResponse.ServingStatus", "health/v1/health.proto"],
    ["an enum value", "grpc.health.v1.HealthCheckResponse.SERVING", "health/v1/health.proto"],
    ["the health service", "grpc.health.v1.Health", "health/v1/health.proto"],
    ["a well-known type", "google.protobuf.Timestamp", "google/protobuf/timestamp.proto"],
    ["an error detail", "google.rpc.ErrorInfo", "google/rpc/error_details.proto"],
    [
      "the reflection service",
      "grpc.reflection.v1alpha.ServerReflection",
      "grpc/reflection/v1alpha/reflection.proto",
    ],
  ])("finds the file declaring %s", async (_, symbol, file) => {
    const files = filesOf(
      await askOne({ messageRequest: { case: "fileContainingSymbol", value: symbol } }),
    );
    expect(files[0]?.name).toBe(file);
  });

  it("answers files by name, with their imports", async () => {
    const [auth, timestamp] = await ask(
      { messageRequest: { case: "fileByFilename", value: "auth/v1/auth.proto" } },
      { messageRequest: { case: "fileByFilename", value: "google/protobuf/timestamp.proto" } },
    );
    expect(filesOf(auth as ServerReflectionResponse).map((f) => f.name)).toHaveLength(6);
    expect(filesOf(timestamp as ServerReflectionResponse).map((f) => f.name)).toEqual([
      "google/protobuf/timestamp.proto",
    ]);
  });

  it("answers NOT_FOUND for what it does not know, and the stream goes on", async () => {
    const responses = await ask(
      { messageRequest: { case: "fileContainingSymbol", value: "auth.v1.Nope" } },
      { messageRequest: { case: "fileByFilename", value: "auth/v1/nope.proto" } },
      {
        messageRequest: {
          case: "fileContainingExtension",
          value: { containingType: "auth.v1.RequestOtpRequest", extensionNumber: 100 },
        },
      },
      {
        messageRequest: {
          case: "fileContainingExtension",
          value: { containingType: "auth.v1.Nope", extensionNumber: 100 },
        },
      },
      { messageRequest: { case: "allExtensionNumbersOfType", value: "auth.v1.Nope" } },
      { messageRequest: { case: "listServices", value: "" } },
    );
    expect(responses).toHaveLength(6);
    for (const response of responses.slice(0, 5)) {
      expect(errorOf(response).errorCode).toBe(Code.NotFound);
    }
    expect(responses[5]?.messageResponse.case).toBe("listServicesResponse");
  });

  it("answers a known message type's extension numbers: none here", async () => {
    const response = await askOne({
      messageRequest: { case: "allExtensionNumbersOfType", value: "auth.v1.RequestOtpRequest" },
    });
    expect(response.messageResponse).toEqual({
      case: "allExtensionNumbersResponse",
      value: expect.objectContaining({
        baseTypeName: "auth.v1.RequestOtpRequest",
        extensionNumber: [],
      }),
    });
  });

  it("answers INVALID_ARGUMENT for a request that asks nothing", async () => {
    expect(errorOf(await askOne({})).errorCode).toBe(Code.InvalidArgument);
  });
});
