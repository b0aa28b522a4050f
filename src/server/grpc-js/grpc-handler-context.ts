import { type ContextValues, createContextValues } from "@connectrpc/connect";
import type * as grpc from "@grpc/grpc-js";
import { type Call, contextValuesOf } from "../../rpc/call-context.js";
import { MetadataHeaders, metadataOf } from "./metadata-headers.js";

/**
 * What the connect handlers read of their context, built on first use: connect's own
 * createHandlerContext makes AbortControllers and signals for every call, which cost a fifth of
 * this door's throughput (docs/benchmarks.md). The handlers read `values` (the Call),
 * `requestHeader` (idempotency-key, authorization) and `signal`.
 */
export class GrpcHandlerContext {
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
