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
import { type Call, contextValuesOf } from "../../rpc/call-context.js";
import type { CallPipeline } from "../../rpc/call-pipeline.js";
import { codeName, connectErrorOf, type Rejection } from "../../rpc/error-mapping.js";
import { FrameworkRefusalError } from "../../rpc/framework-refusals.js";
import { REQUEST_ID_HEADER } from "../../rpc/request-id.js";

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
  return {
    interceptor: edge(pipeline),
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
        handlers[method.localName] = unaryHandler(method, handler.bind(impl), pipeline);
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

// The Call a request's metadata belongs to: grpc-js hands the handler the very Metadata object
// the edge saw arrive.
const kCall = Symbol("otp-auth call");
type CallMetadata = grpc.Metadata & { [kCall]?: Call };
/** What grpc-js's call tells of a request (grpc-js does not export the type). */
type EdgeListener = Parameters<grpc.ServerInterceptingCallInterface["start"]>[0];

type GrpcCall = grpc.ServerInterceptingCallInterface;
type Status = Parameters<GrpcCall["sendStatus"]>[0];

/**
 * Where the door meets grpc-js: the first interceptor gets grpc-js's own call and returns it, with
 * its `start`, `sendMetadata` and `sendStatus` replaced in place (grpc-js calls the last two on
 * itself as well: a deadline, a message over the size limit), so that the door starts the call
 * when the request's metadata arrives, echoes its request id, and sees and ends every status,
 * grpc-js's own included. The replacements are shared functions and the state is one EdgeCall
 * per call, which is also the listener registered with grpc-js: per-call closures, or an
 * interceptor layer of grpc-js's, cost every call more (README "Benchmarks").
 */
function edge(pipeline: CallPipeline): grpc.ServerInterceptor {
  return (descriptor, base: GrpcCall & Edged) => {
    base[kEdge] = new EdgeCall(pipeline, descriptor.path.slice(1), base);
    base.start = edgeStart;
    base.sendMetadata = edgeSendMetadata;
    base.sendStatus = edgeSendStatus;
    return base as grpc.ServerInterceptingCall;
  };
}

const kEdge = Symbol("otp-auth edge call");
type Edged = { [kEdge]?: EdgeCall };

function edgeOf(call: Edged): EdgeCall {
  return call[kEdge] as EdgeCall;
}

function edgeStart(this: GrpcCall & Edged, listener: EdgeListener): void {
  const edge = edgeOf(this);
  edge.listener = listener;
  edge.baseStart.call(this, edge);
}

function edgeSendMetadata(this: GrpcCall & Edged, metadata: grpc.Metadata): void {
  const edge = edgeOf(this);
  edge.headersSent = true;
  edge.baseSendMetadata.call(this, withRequestId(metadata, edge.call));
}

function edgeSendStatus(this: GrpcCall & Edged, status: Status): void {
  const edge = edgeOf(this);
  const call = edge.call;
  if (call === undefined) {
    edge.baseSendStatus.call(this, status);
    return;
  }
  let sent = status;
  if (call.outcome === undefined) {
    // No handler decided this status: grpc-js did, or health or reflection answered.
    if (status.code === grpc.status.OK) {
      edge.pipeline.succeed(call);
    } else if (status.code === grpc.status.RESOURCE_EXHAUSTED) {
      // grpc-js refuses a message over grpc.max_receive_message_length by itself.
      const refusal = new FrameworkRefusalError({
        kind: "message_too_large",
        description: `the request is too large: ${status.details}`,
      });
      sent = grpcStatusOf(edge.pipeline.refuse(call, refusal));
    } else {
      call.outcome = { code: codeName(status.code as number) };
    }
  }
  if (!edge.headersSent) {
    sent = { ...sent, metadata: withRequestId(sent.metadata ?? undefined, call) };
  }
  edge.baseSendStatus.call(this, sent);
  edge.pipeline.end(call);
}

/** One call at the edge: its state, and the listener grpc-js tells the request's parts. */
class EdgeCall implements EdgeListener {
  call: Call | undefined;
  listener: EdgeListener | undefined;
  headersSent = false;
  // grpc-js's own methods (its class's, unbound: taking them allocates nothing).
  readonly baseStart: GrpcCall["start"];
  readonly baseSendMetadata: GrpcCall["sendMetadata"];
  readonly baseSendStatus: GrpcCall["sendStatus"];

  constructor(
    readonly pipeline: CallPipeline,
    private readonly method: string,
    private readonly base: GrpcCall,
  ) {
    this.baseStart = base.start;
    this.baseSendMetadata = base.sendMetadata;
    this.baseSendStatus = base.sendStatus;
  }

  onReceiveMetadata(metadata: CallMetadata): void {
    const call = this.pipeline.start({
      method: this.method,
      protocol: "grpc",
      listener: "grpc",
      peerAddress: this.base.getConnectionInfo().remoteAddress,
      forwardedFor: metadataValue(metadata, "x-forwarded-for"),
      requestId: metadataValue(metadata, REQUEST_ID_HEADER),
    });
    this.call = call;
    metadata[kCall] = call;
    this.listener?.onReceiveMetadata(metadata);
  }

  onReceiveMessage(message: unknown): void {
    this.listener?.onReceiveMessage(message);
  }

  onReceiveHalfClose(): void {
    this.listener?.onReceiveHalfClose();
  }

  onCancel(): void {
    // After every call, not only cancelled ones; a call that ended stays as it ended.
    if (this.call !== undefined) {
      this.pipeline.end(this.call, CANCELED);
    }
    this.listener?.onCancel();
  }
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
  if (values.length === 0 || typeof values[0] !== "string") {
    return null;
  }
  return values.length === 1 ? values[0] : values.map(String).join(", ");
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
): grpc.handleUnaryCall<Uint8Array, Uint8Array> {
  return (grpcCall, respond) => {
    void serveUnary(method, impl, pipeline, grpcCall, respond);
  };
}

/** One unary call: decode, the connect handler, encode; whatever is thrown is refused. */
async function serveUnary(
  { input, output }: DescService["methods"][number],
  impl: UnaryImpl,
  pipeline: CallPipeline,
  grpcCall: grpc.ServerUnaryCall<Uint8Array, Uint8Array>,
  respond: grpc.sendUnaryData<Uint8Array>,
): Promise<void> {
  const call = (grpcCall.metadata as CallMetadata)[kCall];
  const context = new GrpcHandlerContext(grpcCall, call);
  let bytes: Uint8Array;
  try {
    let request: object;
    try {
      request = fromBinary(input, grpcCall.request);
    } catch (error) {
      throw undecodable(error);
    }
    const email: unknown = (request as { email?: unknown }).email;
    if (call !== undefined && typeof email === "string") {
      call.email = email;
    }
    const response = await impl(request, context as unknown as HandlerContext);
    bytes = toBinary(output, create(output as DescMessage, response as Record<string, unknown>));
  } catch (thrown) {
    const status = grpcStatusOf(pipeline.refuse(call, thrown));
    context.addTrailers(status.metadata);
    context.answered = true;
    respond(status);
    return;
  }
  pipeline.succeed(call);
  context.sendHeaders();
  context.answered = true;
  respond(null, bytes, context.trailers());
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
    this.#values ??= this.call === undefined ? createContextValues() : contextValuesOf(this.call);
    return this.#values;
  }

  get requestHeader(): Headers {
    this.#requestHeader ??= new MetadataHeaders(this.grpcCall.metadata);
    return this.#requestHeader;
  }

  /** Set once the handler's answer is handed to grpc-js. */
  answered = false;

  /**
   * Aborts when the client cancels, its deadline passes or the server is forced down before the
   * handler has answered. grpc-js reports every call as cancelled once its status is sent; an
   * answered call's signal is left alone, since aborting costs a DOMException (~5 µs) per call.
   */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      const controller = new AbortController();
      this.#controller = controller;
      if (this.grpcCall.cancelled) {
        controller.abort();
      } else {
        this.grpcCall.once("cancelled", () => {
          if (!this.answered) {
            controller.abort();
          }
        });
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

/**
 * The request's metadata as the Headers the handlers read (`authorization`, `idempotency-key`),
 * read in place: building a WHATWG Headers from every entry cost ~1 µs a call. Text entries only
 * (`-bin` ones are bytes), repeated ones joined by ", " as Headers joins them.
 */
class MetadataHeaders implements Headers {
  constructor(private readonly metadata: grpc.Metadata) {}

  get(name: string): string | null {
    return metadataValue(this.metadata, name.toLowerCase());
  }

  has(name: string): boolean {
    return this.get(name) !== null;
  }

  getSetCookie(): string[] {
    return [];
  }

  forEach(
    callback: (value: string, key: string, parent: Headers) => void,
    thisArg?: unknown,
  ): void {
    for (const [name, value] of this.entries()) {
      callback.call(thisArg, value, name, this);
    }
  }

  *entries(): ReturnType<Headers["entries"]> {
    const names = Object.keys(this.metadata.getMap()).sort();
    for (const name of names) {
      const value = this.get(name);
      if (value !== null) {
        yield [name, value];
      }
    }
  }

  *keys(): ReturnType<Headers["keys"]> {
    for (const [name] of this.entries()) {
      yield name;
    }
  }

  *values(): ReturnType<Headers["keys"]> {
    for (const [, value] of this.entries()) {
      yield value;
    }
  }

  [Symbol.iterator](): ReturnType<Headers["entries"]> {
    return this.entries();
  }

  set(name: string, value: string): void {
    this.metadata.set(name.toLowerCase(), value);
  }

  append(name: string, value: string): void {
    this.metadata.add(name.toLowerCase(), value);
  }

  delete(name: string): void {
    this.metadata.remove(name.toLowerCase());
  }
}
