import {
  create,
  type DescMessage,
  isMessage,
  type MessageInitShape,
  toJson,
} from "@bufbuild/protobuf";
import type { ConnectRouter, MethodImplSpec } from "@connectrpc/connect";
import type { ServeLimits } from "../../config/serve-limits.js";
import type { Call } from "../../rpc/call-context.js";
import type { CallPipeline } from "../../rpc/call-pipeline.js";
import type { Rejection } from "../../rpc/error-mapping.js";
import { methodNotAllowed, routeNotFound } from "../../rpc/framework-refusals.js";
import { recordOf } from "../../rpc/headers.js";
import { collectMethodImpls, type UnaryImpl, unaryImplOf } from "../../rpc/method-impls.js";
import { REQUEST_ID_HEADER } from "../../rpc/request-id.js";
import { statusJsonOf } from "../../rpc/rpc-status.js";
import { httpCallRequest, serveCall } from "../http-call.js";
import { sendWhole } from "../http-response.js";
import { httpStatusOf } from "../http-status.js";
import {
  type HttpDoor,
  type NodeHandler,
  type NodeRequest,
  type NodeResponse,
  startCall,
} from "../http-surface.js";
import { createRouteMatcher, type RouteBinding, type RouteMatcher } from "./http-route-matcher.js";
import { type HttpRulePlan, httpRoutesOf } from "./http-rules.js";
import { transcodeRequest } from "./http-transcoder.js";

/** The protocol label of REST calls in logs and metrics. */
export const REST_PROTOCOL = "rest";
/** The method label of requests that reach no route, in logs and metrics. */
const UNROUTED = "unrouted";

/** The REST door, and its answer for requests that reach no route. */
export interface RestDoor extends HttpDoor {
  /** The routes it serves, in the order the methods and their rules declare them. */
  readonly bindings: readonly RouteBinding<HttpRulePlan>[];
  /**
   * Answers a request no door routed, as a call like any other (logged, counted) in the REST
   * error shape: 405 with `Allow` for a path that has routes for other methods (OPTIONS: 204 with
   * `Allow`, not a call), else 404. Meant as the surface's last resource, so every unknown path
   * answers alike.
   */
  readonly answerUnrouted: NodeHandler;
}

/**
 * The REST door: every method that `routes` registers and annotates with `google.api.http` is
 * served at its routes (http-rules.ts), so adding a route is annotating a method. Its wire, around
 * the call pipeline: the surface starts the call; the request is transcoded into the request
 * message (http-transcoder.ts) and handed with the same handler the connect door calls
 * (method-impls.ts) to pipeline.invoke, with the call in its context values and the request's
 * headers (idempotency-key, authorization) as its request header; a response is answered 200 with
 * proto3 JSON including default values, a rejection with httpStatusOf and its google.rpc.Status
 * as JSON (rpc-status.ts), its metadata (`retry-after`, `allow`) as headers. The call ends after
 * the last byte, or as CANCELED when the client goes away first.
 *
 * Throws at start-up, naming the method, when a rule cannot be served or two routes conflict.
 */
export function createRestDoor(
  routes: (router: ConnectRouter) => void,
  pipeline: CallPipeline,
  limits: ServeLimits,
): RestDoor {
  const specs = new Map(collectMethodImpls(routes).map((spec) => [spec.method, spec]));
  const bindings = httpRoutesOf([...specs.keys()]);
  const impls = new Map(
    bindings.map(({ target }) => [
      target.method,
      unaryImplOf(specs.get(target.method) as MethodImplSpec),
    ]),
  );
  const matcher: RouteMatcher<HttpRulePlan> = createRouteMatcher(bindings);
  return {
    bindings,
    route(path, httpMethod) {
      const match = matcher.match(httpMethod, path);
      if (match.kind !== "found") {
        return undefined;
      }
      const plan = match.binding.target;
      const target = { plan, impl: impls.get(plan.method) as UnaryImpl, rawVariables: match.raw };
      return {
        method: `${plan.method.parent.typeName}/${plan.method.name}`,
        protocolOf: () => REST_PROTOCOL,
        serve: (req, res, call) => {
          serveCall(res, call, pipeline, () => answer(req, res, call, target, pipeline, limits));
        },
      };
    },
    answerUnrouted(req, res) {
      const path = req.url?.split("?", 1)[0] ?? "";
      const httpMethod = req.method ?? "";
      const match = matcher.match(httpMethod, path);
      if (match.kind === "method_not_allowed" && httpMethod === "OPTIONS") {
        res.writeHead(204, { allow: match.allowed.join(", ") });
        res.end();
        return;
      }
      const refusal =
        match.kind === "method_not_allowed"
          ? methodNotAllowed(httpMethod, path, match.allowed)
          : routeNotFound(httpMethod, path);
      const call = startCall(pipeline, req, UNROUTED, REST_PROTOCOL);
      res.setHeader(REQUEST_ID_HEADER, call.requestId);
      serveCall(res, call, pipeline, async () => {
        writeRejection(req, res, pipeline.refuse(call, refusal), {});
      });
    },
  };
}

interface Target {
  readonly plan: HttpRulePlan;
  readonly impl: UnaryImpl;
  readonly rawVariables: readonly string[];
}

async function answer(
  req: NodeRequest,
  res: NodeResponse,
  call: Call,
  { plan, impl, rawVariables }: Target,
  pipeline: CallPipeline,
  limits: ServeLimits,
): Promise<void> {
  const request = httpCallRequest(req, res, call, plan.method, REST_PROTOCOL, limits);
  const answered = await pipeline.invoke(
    call,
    async () =>
      transcodeRequest(plan, {
        rawVariables,
        query: queryOf(req.url ?? ""),
        contentType: request.context.requestHeader.get("content-type"),
        body: await request.body(),
      }),
    // Encoding inside the handler's step: a response that does not encode is refused (INTERNAL).
    async (input) => jsonOf(plan.method.output, await impl(input, request.context)),
  );
  request.context.abort();
  if (answered.rejection !== undefined) {
    writeRejection(req, res, answered.rejection, recordOf(request.context.responseHeader));
    return;
  }
  sendWhole(
    req,
    res,
    200,
    { ...recordOf(request.context.responseHeader), ...JSON_TYPE },
    answered.response,
  );
}

const JSON_OPTIONS = { alwaysEmitImplicit: true } as const;
const JSON_TYPE = { "content-type": "application/json" } as const;

/** A handler's response as proto3 JSON text, default values included. */
function jsonOf<Desc extends DescMessage>(schema: Desc, output: unknown): string {
  const message = isMessage(output, schema)
    ? output
    : create(schema, output as MessageInitShape<Desc>);
  return JSON.stringify(toJson(schema, message, JSON_OPTIONS));
}

/** A rejection as REST answers it: httpStatusOf, google.rpc.Status JSON, metadata as headers. */
function writeRejection(
  req: NodeRequest,
  res: NodeResponse,
  rejection: Rejection,
  headers: Record<string, string>,
): void {
  const body = JSON.stringify(statusJsonOf(rejection));
  sendWhole(
    req,
    res,
    httpStatusOf(rejection),
    { ...headers, ...rejection.metadata, ...JSON_TYPE },
    body,
  );
}

function queryOf(url: string): string {
  const at = url.indexOf("?");
  return at === -1 ? "" : url.slice(at + 1);
}
