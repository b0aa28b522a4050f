import * as grpc from "@grpc/grpc-js";
import type { Call } from "../../rpc/call-context.js";
import type { CallPipeline } from "../../rpc/call-pipeline.js";
import { messageTooLarge } from "../../rpc/framework-refusals.js";
import { REQUEST_ID_HEADER } from "../../rpc/request-id.js";
import { grpcStatusOf } from "./grpc-status.js";
import { metadataValue } from "./metadata-headers.js";

// The Call a request's metadata belongs to: grpc-js hands the handler the very Metadata object
// the edge saw arrive.
const kCall = Symbol("otp-auth call");
type CallMetadata = grpc.Metadata & { [kCall]?: Call };

/** The call that the edge started for a request with `metadata`, if any. */
export function callOfMetadata(metadata: grpc.Metadata): Call | undefined {
  return (metadata as CallMetadata)[kCall];
}
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
 * interceptor layer of grpc-js's, cost every call more (docs/benchmarks.md).
 */
export function createGrpcEdge(pipeline: CallPipeline): grpc.ServerInterceptor {
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
      sent = grpcStatusOf(edge.pipeline.refuse(call, messageTooLarge(status.details)));
    } else {
      edge.pipeline.settle(call, status.code as number);
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
      this.pipeline.cancel(this.call);
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
