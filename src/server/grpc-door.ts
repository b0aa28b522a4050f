import {
  create,
  type DescMessage,
  type DescService,
  fromBinary,
  toBinary,
} from "@bufbuild/protobuf";
import {
  type ContextValues,
  createContextValues,
  type HandlerContext,
  type ServiceImpl,
} from "@connectrpc/connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import * as grpc from "@grpc/grpc-js";
import { type Call, setCall } from "../rpc/call-context.js";
import type { CallPipeline } from "../rpc/call-pipeline.js";
import { codeName, connectErrorOf, type Rejection } from "../rpc/error-mapping.js";
import { FrameworkRefusalError } from "../rpc/framework-refusals.js";
import { REQUEST_ID_HEADER } from "../rpc/request-id.js";

const CANCELED = { code: "CANCELED" } as const;
const DETAILS_HEADER = "grpc-status-details-bin";

/**
 * The grpc-js door: gRPC through @grpc/grpc-js's own server, as a thin encoder around the call
 * pipeline (see call-pipeline.ts). Its three parts:
 * - start: `interceptor` starts a call when a request's metadata arrives (grpc-js peer address,
 *   metadata, method), and echoes its request id;
 * - encode: a Rejection becomes a grpc-js status: code, message, `retry-after` and
 *   `grpc-status-details-bin` (the google.rpc.Status connect encodes for the main port, byte for
 *   byte);
 * - end: when grpc-js sends the call's status, or when the client goes away first.
 * grpc-js answers some calls itself before any handler runs (a message over the size limit, a
 * deadline that passes); `interceptor` sees those statuses too and passes size refusals through
 * the refusal path, so that they look like the main port's.
 */
export interface GrpcDoor {
  /** Installed first on the grpc-js server: every call, whatever its service, starts here. */
  readonly interceptor: grpc.ServerInterceptor;
  /** grpc-js's definition and handlers for `service`, served by the connect handlers `impl`. */
  serve<S extends DescService>(
    service: S,
    impl: ServiceImpl<S>,
  ): [grpc.ServiceDefinition, grpc.UntypedServiceImplementation];
}

export function createGrpcDoor(pipeline: CallPipeline): GrpcDoor {
  // The call each request's metadata belongs to: grpc-js hands handlers the same Metadata object
  // the interceptor saw.
  const calls = new WeakMap<grpc.Metadata, Call>();
  return {
    interceptor: edgeInterceptor(pipeline, calls),
    serve(service, impl) {
      const definition: Record<string, grpc.MethodDefinition<Uint8Array, Uint8Array>> = {};
      const handlers: grpc.UntypedServiceImplementation = {};
      for (const method of service.methods) {
        if (method.methodKind !== "unary") {
          throw new Error(`the grpc-js door serves unary methods only, not ${method.name}`);
        }
        definition[method.localName] = {
          path: `/${service.typeName}/${method.name}`,
          requestStream: false,
          responseStream: false,
          originalName: method.name,
          // Bytes both ways: decoding and encoding happen in the handler, where a message that
          // does not decode can be refused like any other request.
          requestSerialize: asBuffer,
          requestDeserialize: asBuffer,
          responseSerialize: asBuffer,
          responseDeserialize: asBuffer,
        };
        const handler = impl[method.localName as keyof ServiceImpl<typeof service>] as UnaryImpl;
        handlers[method.localName] = unaryHandler(method, handler.bind(impl), pipeline, calls);
      }
      return [definition, handlers];
    },
  };
}

type UnaryImpl = (request: unknown, context: HandlerContext) => unknown;

/** The same bytes, as the Buffer grpc-js writes (no copy). */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Where the door meets grpc-js: the first interceptor gets grpc-js's own call, whose methods are
 * wrapped in place (no extra interceptor layer, which would cost every call) to start the call,
 * echo its request id, and see and end every status, grpc-js's own included.
 */
function edgeInterceptor(
  pipeline: CallPipeline,
  calls: WeakMap<grpc.Metadata, Call>,
): grpc.ServerInterceptor {
  return (descriptor, base) => {
    let call: Call | undefined;
    let headersSent = false;
    const start = base.start.bind(base);
    const sendMetadata = base.sendMetadata.bind(base);
    const sendStatus = base.sendStatus.bind(base);
    base.start = (listener) =>
      start({
        onReceiveMetadata(metadata) {
          call = pipeline.start({
            method: descriptor.path.slice(1),
            protocol: "grpc",
            listener: "grpc",
            peerAddress: base.getConnectionInfo().remoteAddress,
            forwardedFor: metadataValue(metadata, "x-forwarded-for"),
            requestId: metadataValue(metadata, REQUEST_ID_HEADER),
          });
          calls.set(metadata, call);
          listener.onReceiveMetadata(metadata);
        },
        onReceiveMessage: (message) => listener.onReceiveMessage(message),
        onReceiveHalfClose: () => listener.onReceiveHalfClose(),
        onCancel() {
          // After every call, not only cancelled ones; a call that ended stays as it ended.
          if (call !== undefined) {
            pipeline.end(call, CANCELED);
          }
          listener.onCancel();
        },
      });
    base.sendMetadata = (metadata) => {
      headersSent = true;
      sendMetadata(withRequestId(metadata, call));
    };
    base.sendStatus = (status) => {
      if (call === undefined) {
        sendStatus(status);
        return;
      }
      let sent = status;
      if (call.outcome === undefined) {
        // No handler decided this status: grpc-js did, or health or reflection answered.
        if (status.code === grpc.status.OK) {
          pipeline.succeed(call);
        } else if (status.code === grpc.status.RESOURCE_EXHAUSTED) {
          // grpc-js refuses a message over grpc.max_receive_message_length by itself.
          const refusal = new FrameworkRefusalError({
            kind: "message_too_large",
            description: `the request is too large: ${status.details}`,
          });
          sent = grpcStatusOf(pipeline.refuse(call, refusal));
        } else {
          call.outcome = { code: codeName(status.code as number) };
        }
      }
      if (!headersSent) {
        sent = { ...sent, metadata: withRequestId(sent.metadata ?? undefined, call) };
      }
      sendStatus(sent);
      pipeline.end(call);
    };
    // The interface grpc-js asks for is its own call's; returning it adds no layer.
    return base as grpc.ServerInterceptingCall;
  };
}

function withRequestId(metadata: grpc.Metadata | undefined, call: Call | undefined) {
  const sent = metadata ?? new grpc.Metadata();
  if (call !== undefined) {
    sent.set(REQUEST_ID_HEADER, call.requestId);
  }
  return sent;
}

/** A metadata entry's text, repeated ones joined by ", " as HTTP headers join them. */
function metadataValue(metadata: grpc.Metadata, name: string): string | null {
  const values = metadata.get(name);
  return values.length === 0 ? null : values.map(String).join(", ");
}

/** A rejection as grpc-js sends it; the same status, details and trailers as the main port's. */
export function grpcStatusOf(rejection: Rejection): grpc.StatusObject {
  const metadata = new grpc.Metadata();
  for (const [name, value] of Object.entries(rejection.metadata)) {
    metadata.set(name, value);
  }
  // connect encodes google.rpc.Status for the main port; the same bytes go out here.
  const details = setTrailerStatus(new Headers(), connectErrorOf(rejection)).get(DETAILS_HEADER);
  if (details !== null) {
    metadata.set(DETAILS_HEADER, Buffer.from(details, "base64"));
  }
  return { code: rejection.code as number, details: rejection.message, metadata };
}

function unaryHandler(
  method: DescService["methods"][number],
  impl: UnaryImpl,
  pipeline: CallPipeline,
  calls: WeakMap<grpc.Metadata, Call>,
): grpc.handleUnaryCall<Uint8Array, Uint8Array> {
  const { input, output } = method;
  return (grpcCall, respond) => {
    const call = calls.get(grpcCall.metadata);
    const context = new GrpcHandlerContext(grpcCall, call);
    const refuse = (thrown: unknown) => {
      const status = grpcStatusOf(pipeline.refuse(call, thrown));
      context.addTrailers(status.metadata);
      respond(status);
    };
    let request: object;
    try {
      request = fromBinary(input, grpcCall.request);
    } catch (error) {
      refuse(undecodable(error));
      return;
    }
    const email: unknown = (request as { email?: unknown }).email;
    if (call !== undefined && typeof email === "string") {
      call.email = email;
    }
    let result: unknown;
    try {
      result = impl(request, context as unknown as HandlerContext);
    } catch (error) {
      refuse(error);
      return;
    }
    Promise.resolve(result).then((response) => {
      let bytes: Uint8Array;
      try {
        bytes = toBinary(
          output,
          create(output as DescMessage, response as Record<string, unknown>),
        );
      } catch (error) {
        refuse(error);
        return;
      }
      pipeline.succeed(call);
      context.sendHeaders();
      respond(null, bytes, context.trailers());
    }, refuse);
  };
}

function undecodable(error: unknown): FrameworkRefusalError {
  const reason = error instanceof Error ? error.message : String(error);
  return new FrameworkRefusalError(
    { kind: "undecodable_body", description: `the request body could not be decoded: ${reason}` },
    { cause: error },
  );
}

/**
 * What the connect handlers read of their context, built on first use: connect's own
 * createHandlerContext makes AbortControllers and signals for every call, which cost a fifth of
 * this door's throughput (README "Benchmarks"). The handlers read `values` (the Call),
 * `requestHeader` (idempotency-key, authorization) and `signal`.
 */
class GrpcHandlerContext {
  readonly protocolName = "grpc";
  readonly requestMethod = "POST";
  #values: ContextValues | undefined;
  #requestHeader: Headers | undefined;
  #controller: AbortController | undefined;
  #responseHeader: Headers | undefined;
  #responseTrailer: Headers | undefined;

  constructor(
    private readonly grpcCall: grpc.ServerUnaryCall<Uint8Array, Uint8Array>,
    private readonly call: Call | undefined,
  ) {}

  get values(): ContextValues {
    if (this.#values === undefined) {
      this.#values = createContextValues();
      if (this.call !== undefined) {
        setCall(this.#values, this.call);
      }
    }
    return this.#values;
  }

  get requestHeader(): Headers {
    if (this.#requestHeader === undefined) {
      this.#requestHeader = new Headers();
      for (const [name, value] of Object.entries(this.grpcCall.metadata.getMap())) {
        if (typeof value === "string") {
          this.#requestHeader.set(name, value);
        }
      }
    }
    return this.#requestHeader;
  }

  /** Aborts when the client cancels, its deadline passes or the server is forced down. */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      const controller = new AbortController();
      this.#controller = controller;
      if (this.grpcCall.cancelled) {
        controller.abort();
      } else {
        this.grpcCall.once("cancelled", () => controller.abort());
      }
    }
    return this.#controller.signal;
  }

  get peer() {
    return { addr: this.call?.clientAddress ?? "" };
  }

  get responseHeader(): Headers {
    this.#responseHeader ??= new Headers();
    return this.#responseHeader;
  }

  get responseTrailer(): Headers {
    this.#responseTrailer ??= new Headers();
    return this.#responseTrailer;
  }

  timeoutMs(): number | undefined {
    const deadline = this.grpcCall.getDeadline();
    const ms = deadline instanceof Date ? deadline.getTime() : deadline;
    return Number.isFinite(ms) ? ms - Date.now() : undefined;
  }

  /** Sends the response headers a handler set, if any. */
  sendHeaders(): void {
    if (this.#responseHeader !== undefined) {
      this.grpcCall.sendMetadata(metadataOf(this.#responseHeader));
    }
  }

  /** The response trailers a handler set, if any. */
  trailers(): grpc.Metadata | undefined {
    return this.#responseTrailer && metadataOf(this.#responseTrailer);
  }

  /** Adds the response trailers a handler set to `metadata`. */
  addTrailers(metadata: grpc.Metadata): void {
    this.#responseTrailer?.forEach((value, name) => {
      metadata.set(name, value);
    });
  }
}

function metadataOf(headers: Headers): grpc.Metadata {
  const metadata = new grpc.Metadata();
  headers.forEach((value, name) => {
    metadata.set(name, value);
  });
  return metadata;
}
