import {
  create,
  type DescMessage,
  type DescService,
  fromBinary,
  type MessageInitShape,
  toBinary,
} from "@bufbuild/protobuf";
import { createServiceImplSpec, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type * as grpc from "@grpc/grpc-js";
import type { CallPipeline } from "../../rpc/call-pipeline.js";
import { type UnaryImpl, unaryImplOf } from "../../rpc/method-impls.js";
import { callOfMetadata, createGrpcEdge } from "./grpc-edge.js";
import { GrpcHandlerContext } from "./grpc-handler-context.js";
import { grpcStatusOf } from "./grpc-status.js";

/**
 * The grpc-js door: gRPC through @grpc/grpc-js's own server. Its wire, around the call pipeline
 * (see call-pipeline.ts):
 * - start: the edge (grpc-edge.ts), installed first on the server, starts a call when a request's
 *   metadata arrives (grpc-js peer address, metadata, method), echoes its request id, and sees
 *   and ends every status, grpc-js's own included (a deadline, a message over the size limit);
 * - invoke: the request bytes and the connect handler go to pipeline.invoke, with a handler
 *   context read from grpc-js's call in place (grpc-handler-context.ts);
 * - encode: a response is the message's bytes; a rejection a grpc-js status (grpc-status.ts).
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
    interceptor: createGrpcEdge(pipeline),
    serve(service, impl) {
      const specs = createServiceImplSpec(service, impl).methods;
      const definition: Record<string, grpc.MethodDefinition<Uint8Array, Uint8Array>> = {};
      const handlers: grpc.UntypedServiceImplementation = {};
      for (const method of service.methods) {
        const handler = unaryImplOf(specs[method.localName as keyof typeof specs]);
        definition[method.localName] = {
          path: `/${service.typeName}/${method.name}`,
          requestStream: false,
          responseStream: false,
          originalName: method.name,
          // Bytes both ways: decoding and encoding happen in the pipeline's invoke, where a
          // message that does not decode is refused like any other request.
          requestSerialize: asBuffer,
          requestDeserialize: asBuffer,
          responseSerialize: asBuffer,
          responseDeserialize: asBuffer,
        };
        handlers[method.localName] = unaryHandler(method, handler, pipeline);
      }
      return [definition, handlers];
    },
  };
}

/** The same bytes, as the Buffer grpc-js writes (no copy). */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
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

/** One unary call: bytes in, the pipeline's answer out as bytes or a grpc-js status. */
async function serveUnary(
  { input, output }: DescService["methods"][number],
  impl: UnaryImpl,
  pipeline: CallPipeline,
  grpcCall: grpc.ServerUnaryCall<Uint8Array, Uint8Array>,
  respond: grpc.sendUnaryData<Uint8Array>,
): Promise<void> {
  const call = callOfMetadata(grpcCall.metadata);
  const context = new GrpcHandlerContext(grpcCall, call);
  const answered = await pipeline.invoke(
    call,
    () => fromBinary(input, grpcCall.request),
    // Encoding inside the handler's step: a response that does not encode is refused (INTERNAL).
    async (request) => {
      const response = await impl(request, context as unknown as HandlerContext);
      return toBinary(
        output,
        create(output as DescMessage, response as MessageInitShape<DescMessage>),
      );
    },
  );
  context.answered = true;
  if (answered.rejection !== undefined) {
    const status = grpcStatusOf(answered.rejection);
    context.addTrailers(status.metadata);
    respond(status);
    return;
  }
  context.sendHeaders();
  respond(null, answered.response, context.trailers());
}
