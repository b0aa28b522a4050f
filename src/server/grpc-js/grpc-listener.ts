import type { DescFile } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation, type ServingStatus } from "grpc-health-check";
import { AdminService } from "../../../gen/auth/v1/admin_pb.js";
import { AuthService } from "../../../gen/auth/v1/auth_pb.js";
import { file_google_rpc_error_details } from "../../../gen/google/rpc/error_details_pb.js";
import { file_grpc_reflection_v1_reflection } from "../../../gen/grpc/reflection/v1/reflection_pb.js";
import { file_grpc_reflection_v1alpha_reflection } from "../../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { file_health_v1_health } from "../../../gen/health/v1/health_pb.js";
import type { ServeLimits } from "../../config/serve-limits.js";
import type { CallPipeline } from "../../rpc/call-pipeline.js";
import { createDescriptorIndex } from "../../rpc/descriptor-index.js";
import type { HealthSource, ServingState } from "../../rpc/health.js";
import { API_SERVICE_NAMES } from "../../rpc/routes.js";
import type { ConnectionLimits } from "../connection-limits.js";
import type { Listener } from "../listener.js";
import type { TlsKeyPair } from "../tls.js";
import { createGrpcDoor } from "./grpc-door.js";

export interface GrpcListenOptions {
  readonly port: number;
  readonly host: string;
  readonly limits: ConnectionLimits;
  /** Limits on one call, every door's. */
  readonly serveLimits: ServeLimits;
  readonly pipeline: CallPipeline;
  /** The AuthService handlers, the same object the main port serves. */
  readonly auth: ServiceImpl<typeof AuthService>;
  /** The AdminService handlers, the same object the main port serves. */
  readonly admin: ServiceImpl<typeof AdminService>;
  /** The serving state health reports, the main port's. */
  readonly health: HealthSource;
  /** The main port's certificate and key (TLS_CERT_FILE, TLS_KEY_FILE); plaintext (h2c) without. */
  readonly tls?: TlsKeyPair | undefined;
}

/**
 * Serves gRPC on its own port through @grpc/grpc-js's server (the grpc-js door, grpc-door.ts):
 * AuthService and AdminService, grpc.health.v1.Health (the official grpc-health-check, told the
 * main port's state) and server reflection (@grpc/reflection, v1 and v1alpha, fed the generated
 * descriptors). Connections are held to the main port's limits; `close` drains within its grace.
 */
export async function listenGrpc(options: GrpcListenOptions): Promise<Listener> {
  const { limits, pipeline } = options;
  const door = createGrpcDoor(pipeline);
  const server = new grpc.Server({
    interceptors: [door.interceptor],
    // Over this, grpc-js refuses by itself; the door gives that refusal the service's shape.
    "grpc.max_receive_message_length": options.serveLimits.maxRequestBytes,
    "grpc.max_concurrent_streams": limits.http2MaxConcurrentStreams,
    "grpc-node.max_session_memory": limits.http2MaxSessionMemoryMb,
    "grpc.max_connection_idle_ms": limits.idleMs,
  });
  server.addService(...door.serve(AuthService, options.auth));
  server.addService(...door.serve(AdminService, options.admin));
  const stopHealth = serveHealth(server, options.health);
  new ReflectionService(packageDefinitionOf(REFLECTED_FILES)).addToServer(server);

  const credentials =
    options.tls === undefined ? undefined : new ReloadableTlsCredentials(options.tls);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      `${hostForGrpc(options.host)}:${options.port}`,
      credentials ?? grpc.ServerCredentials.createInsecure(),
      (error, bound) => (error === null ? resolve(bound) : reject(error)),
    );
  });

  return {
    port,
    close(graceMs) {
      return new Promise<void>((resolve) => {
        // Ending health watches first: tryShutdown waits for every open stream.
        stopHealth();
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    },
    setTlsKeyPair(pair) {
      if (credentials === undefined) {
        throw new Error("this listener serves no TLS");
      }
      credentials.reload(pair);
    },
  };
}

/**
 * Server credentials whose certificate can be replaced while serving: grpc-js hands each update
 * to the secure context of its HTTP/2 servers (as its certificate-provider credentials do), so
 * new connections get the renewed certificate and open ones keep theirs. Settings as
 * `ServerCredentials.createSsl` makes them, without client certificates.
 */
class ReloadableTlsCredentials extends grpc.ServerCredentials {
  constructor(pair: TlsKeyPair) {
    super({ requestCert: false }, { cert: pair.cert, key: pair.key });
  }

  reload(pair: TlsKeyPair): void {
    this.updateSecureContextOptions({ cert: pair.cert, key: pair.key });
  }

  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

/** Everything reflection describes here, as on the main port. */
const REFLECTED_FILES: readonly DescFile[] = [
  AuthService.file,
  AdminService.file,
  file_health_v1_health,
  file_grpc_reflection_v1_reflection,
  file_grpc_reflection_v1alpha_reflection,
  // Not imported by auth.proto; described so that clients can decode error details.
  file_google_rpc_error_details,
];

/**
 * @grpc/reflection reads proto-loader's package definitions, of which it uses only the serialized
 * FileDescriptorProtos: these are the generated ones, with all their imports.
 */
function packageDefinitionOf(
  files: readonly DescFile[],
): ConstructorParameters<typeof ReflectionService>[0] {
  const index = createDescriptorIndex([], files);
  const fileDescriptorProtos = files.flatMap((file) =>
    index.serializeWithDependencies(file).map((bytes) => Buffer.from(bytes)),
  );
  return {
    [files[0]?.proto.package ?? ""]: {
      format: "Protocol Buffer 3 FileDescriptorProto",
      type: {},
      fileDescriptorProtos,
    },
  } as unknown as ConstructorParameters<typeof ReflectionService>[0];
}

/**
 * grpc.health.v1.Health for the server ("") and the API's services, following `source`. Once
 * shutdown begins, watchers hear NOT_SERVING and their streams end, as on the main port, so that a
 * graceful close need not wait them out; the returned function does that at close.
 */
function serveHealth(server: grpc.Server, source: HealthSource): () => void {
  const names = ["", ...API_SERVICE_NAMES];
  const health = new HealthImplementation();
  const watches = new Set<grpc.ServerWritableStream<unknown, unknown>>();
  let told: ServingState | undefined;
  const tell = (state: ServingState) => {
    if (state === told) {
      return;
    }
    told = state;
    for (const name of names) {
      health.setStatus(name, servingStatusOf(state));
    }
    if (state === "shutting_down") {
      for (const watch of watches) {
        watch.end();
      }
      watches.clear();
    }
  };
  tell(source.state());
  const unsubscribe = source.subscribe(tell);
  health.addToServer({
    addService(definition, implementation) {
      const watch = implementation.watch as grpc.handleServerStreamingCall<unknown, unknown>;
      server.addService(definition, {
        ...implementation,
        watch(call: grpc.ServerWritableStream<unknown, unknown>) {
          watches.add(call);
          call.once("cancelled", () => watches.delete(call));
          watch(call);
          if (told === "shutting_down") {
            call.end();
          }
        },
      });
    },
  });
  return () => {
    unsubscribe();
    tell("shutting_down");
  };
}

function servingStatusOf(state: ServingState): ServingStatus {
  return state === "serving" ? "SERVING" : "NOT_SERVING";
}

/** grpc-js takes IPv6 addresses in brackets. */
function hostForGrpc(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}
