import {
  create,
  createRegistry,
  type DescMessage,
  isMessage,
  type MessageInitShape,
  toJson,
} from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  createHandlerContext,
  type MethodImplSpec,
} from "@connectrpc/connect";
import { readAllBytes } from "@connectrpc/connect/protocol";
import { universalRequestFromNodeRequest } from "@connectrpc/connect-node";
import { file_google_rpc_error_details } from "../../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../../gen/google/rpc/status_pb.js";
import { type Call, contextValuesOf } from "../../rpc/call-context.js";
import type { CallPipeline } from "../../rpc/call-pipeline.js";
import type { Rejection } from "../../rpc/error-mapping.js";
import { frameworkRefusalOf } from "../../rpc/framework-refusals.js";
import { collectMethodImpls } from "../../rpc/method-impls.js";
import { MAX_REQUEST_BYTES } from "../connect/connect-door.js";
import type { HttpDoor, NodeHandler, NodeRequest, NodeResponse } from "../http-surface.js";
import { createRouteMatcher, type RouteMatcher } from "./http-route-matcher.js";
import { type HttpRulePlan, httpRoutesOf } from "./http-rules.js";
import { httpStatusOf } from "./http-status.js";
import { transcodeRequest } from "./http-transcoder.js";

/** The protocol label of REST calls in logs and metrics. */
export const REST_PROTOCOL = "rest";

/** The REST door, and its answer for requests that reach no route. */
export interface RestDoor extends HttpDoor {
  /**
   * Answers a request no door routed, in the REST error shape: 405 with `Allow` for a path
   * that has routes for other methods (OPTIONS: 204 with `Allow`), else 404. Meant as the
   * surface's last resource, so every unknown path answers alike.
   */
  readonly answerUnrouted: NodeHandler;
}

// Resolves the google.rpc detail types inside a Status's `details` (Any) for JSON.
const detailRegistry = createRegistry(file_google_rpc_error_details);
const JSON_OPTIONS = { alwaysEmitImplicit: true } as const;
const CANCELED = { code: "CANCELED" } as const;

/**
 * The REST door: every method that `routes` registers and annotates with `google.api.http` is
 * served at its routes (http-rules.ts), so adding a route is annotating a method. A thin encoder
 * around the call pipeline, like the connect door: the surface starts the call; the request is
 * transcoded into the request message (http-transcoder.ts) and handed to the same handler the
 * connect door calls (method-impls.ts), with the call in its context values and the request's
 * headers (idempotency-key, authorization) as its request header; a handler's result is answered
 * 200 with proto3 JSON including default values; anything thrown, in decoding or in the handler,
 * takes the pipeline's one refusal path and is answered with httpStatusOf and a google.rpc.Status
 * JSON body, its rejection's metadata (`retry-after`) as headers. The call ends after the last
 * byte, or as CANCELED when the client goes away first.
 *
 * Throws at start-up, naming the method, when a rule cannot be served or two routes conflict.
 */
export function createRestDoor(
  routes: (router: ConnectRouter) => void,
  pipeline: CallPipeline,
): RestDoor {
  const impls = new Map(collectMethodImpls(routes).map((spec) => [spec.method, spec]));
  const matcher: RouteMatcher<HttpRulePlan> = createRouteMatcher(httpRoutesOf([...impls.keys()]));
  return {
    route(path, httpMethod) {
      const match = matcher.match(httpMethod, path);
      if (match.kind !== "found") {
        return undefined;
      }
      const plan = match.binding.target;
      const spec = impls.get(plan.method) as MethodImplSpec;
      return {
        method: `${plan.method.parent.typeName}/${plan.method.name}`,
        protocolOf: () => REST_PROTOCOL,
        serve: (req, res, call) => {
          serve(req, res, call, { plan, spec, rawVariables: match.raw }, pipeline);
        },
      };
    },
    answerUnrouted(req, res) {
      const path = req.url?.split("?", 1)[0] ?? "";
      const match = matcher.match(req.method ?? "", path);
      if (match.kind === "method_not_allowed") {
        const allow = match.allowed.join(", ");
        if (req.method === "OPTIONS") {
          res.writeHead(204, { allow });
          res.end();
          return;
        }
        writeStatus(
          req,
          res,
          405,
          { allow },
          Code.Unimplemented,
          `${req.method} is not allowed at ${path}: use ${allow}`,
        );
        return;
      }
      writeStatus(req, res, 404, {}, Code.NotFound, `no route for ${req.method} ${path}`);
    },
  };
}

interface Target {
  readonly plan: HttpRulePlan;
  readonly spec: MethodImplSpec;
  readonly rawVariables: readonly string[];
}

function serve(
  req: NodeRequest,
  res: NodeResponse,
  call: Call,
  target: Target,
  pipeline: CallPipeline,
): void {
  res.once("close", () => pipeline.end(call, res.writableFinished ? undefined : CANCELED));
  answer(req, res, call, target, pipeline).catch(() => {
    // Writing failed: the client went away, and the close above ends the call.
    res.destroy();
  });
}

async function answer(
  req: NodeRequest,
  res: NodeResponse,
  call: Call,
  { plan, spec, rawVariables }: Target,
  pipeline: CallPipeline,
): Promise<void> {
  const values = contextValuesOf(call);
  const uReq = universalRequestFromNodeRequest(req, res, undefined, values);
  const ctx = createHandlerContext({
    service: plan.method.parent,
    method: plan.method,
    protocolName: REST_PROTOCOL,
    requestMethod: req.method ?? "",
    url: uReq.url,
    requestHeader: uReq.header,
    requestSignal: uReq.signal,
    contextValues: values,
  });
  let body: string;
  try {
    const input = transcodeRequest(plan, {
      rawVariables,
      query: queryOf(req.url ?? ""),
      contentType: uReq.header.get("content-type"),
      body: await readBody(uReq.body as AsyncIterable<Uint8Array>, uReq.header),
    });
    const email: unknown = (input as { email?: unknown }).email;
    if (typeof email === "string") {
      call.email = email;
    }
    if (spec.kind !== "unary") {
      throw new ConnectError("only unary methods are served over REST", Code.Unimplemented);
    }
    const output = await spec.impl(input, ctx);
    body = JSON.stringify(
      toJson(plan.method.output, messageOf(plan.method.output, output), JSON_OPTIONS),
    );
    pipeline.succeed(call);
  } catch (error) {
    const rejection = pipeline.refuse(call, error);
    writeRejection(req, res, rejection, ctx.responseHeader);
    return;
  } finally {
    ctx.abort();
  }
  writeJson(req, res, 200, headersOf(ctx.responseHeader), body);
}

/** The request body, at most MAX_REQUEST_BYTES (else MESSAGE_TOO_LARGE). */
async function readBody(body: AsyncIterable<Uint8Array>, header: Headers): Promise<Uint8Array> {
  try {
    return await readAllBytes(body, MAX_REQUEST_BYTES, header.get("content-length"));
  } catch (error) {
    const connectError = ConnectError.from(error);
    throw frameworkRefusalOf(connectError) ?? connectError;
  }
}

function messageOf<Desc extends DescMessage>(schema: Desc, output: unknown) {
  return isMessage(output, schema) ? output : create(schema, output as MessageInitShape<Desc>);
}

function writeRejection(
  req: NodeRequest,
  res: NodeResponse,
  rejection: Rejection,
  responseHeader: Headers,
): void {
  const status = create(StatusSchema, {
    code: rejection.code,
    message: rejection.message,
    details: rejection.details.map((detail) =>
      anyPack(detail.desc, create(detail.desc, detail.value as MessageInitShape<DescMessage>)),
    ),
  });
  const headers = { ...headersOf(responseHeader), ...rejection.metadata };
  const json = toJson(StatusSchema, status, { ...JSON_OPTIONS, registry: detailRegistry }) as {
    details: Record<string, unknown>[];
  };
  // "@type" first, as google.rpc.Status JSON is usually read.
  json.details = json.details.map((detail) => ({ "@type": detail["@type"], ...detail }));
  writeJson(req, res, httpStatusOf(rejection), headers, JSON.stringify(json));
}

/** A google.rpc.Status answer without details (404, 405). */
function writeStatus(
  req: NodeRequest,
  res: NodeResponse,
  httpStatus: number,
  headers: Record<string, string>,
  code: Code,
  message: string,
): void {
  const json = toJson(StatusSchema, create(StatusSchema, { code, message }), JSON_OPTIONS);
  writeJson(req, res, httpStatus, headers, JSON.stringify(json));
}

function writeJson(
  req: NodeRequest,
  res: NodeResponse,
  status: number,
  headers: Record<string, string>,
  body: string,
): void {
  res.writeHead(status, {
    ...headers,
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(body)),
  });
  // HEAD: the headers GET would have, no body.
  if (req.method === "HEAD") {
    res.end();
  } else {
    res.end(body);
  }
}

function headersOf(header: Headers): Record<string, string> {
  const headers: Record<string, string> = {};
  header.forEach((value, key) => {
    headers[key] = value;
  });
  return headers;
}

function queryOf(url: string): string {
  const at = url.indexOf("?");
  return at === -1 ? "" : url.slice(at + 1);
}
