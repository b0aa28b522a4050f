import { create } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import {
  AuthService,
  IntrospectTokenRequestSchema,
  type IntrospectTokenResponse,
} from "../../../gen/auth/v1/auth_pb.js";
import type { ServeLimits } from "../../config/serve-limits.js";
import type { Call } from "../../rpc/call-context.js";
import type { CallPipeline } from "../../rpc/call-pipeline.js";
import { collectMethodImpls, type UnaryImpl, unaryImplOf } from "../../rpc/method-impls.js";
import { httpCallRequest, requirePost, serveCall } from "../http-call.js";
import { sendWhole } from "../http-response.js";
import type { HttpDoor, NodeRequest, NodeResponse } from "../http-surface.js";
import {
  introspectionAnswer,
  introspectionRefusal,
  introspectionRequestOf,
} from "./introspection-wire.js";

/** The protocol label of introspection calls in logs and metrics. */
export const OAUTH_PROTOCOL = "oauth";

/** Where RFC 7662 introspection is served (the discovery documents name it). */
export const INTROSPECTION_PATH = "/oauth/introspect";

/**
 * RFC 7662 introspection on the main port, `POST /oauth/introspect`, for gateways that validate
 * tokens by asking (Kong, Envoy ext_authz, Apigee). A door like the others, in three steps
 * around the call pipeline: the surface starts the call; the form body (under the serve limits)
 * becomes IntrospectToken's request and goes with the very handler every door calls to
 * pipeline.invoke, with the caller's `authorization` header as the RPC sees it; the answer or
 * refusal is written in RFC 7662's and RFC 6750's words (introspection-wire.ts).
 */
export function createIntrospectionDoor(
  routes: (router: ConnectRouter) => void,
  pipeline: CallPipeline,
  limits: ServeLimits,
): HttpDoor {
  const method = AuthService.method.introspectToken;
  const spec = collectMethodImpls(routes).find((candidate) => candidate.method === method);
  if (spec === undefined) {
    throw new Error(`${INTROSPECTION_PATH} needs ${method.parent.typeName}.${method.name}`);
  }
  const impl = unaryImplOf(spec);
  return {
    route(path) {
      if (path !== INTROSPECTION_PATH) {
        return undefined;
      }
      return {
        method: `${method.parent.typeName}/${method.name}`,
        protocolOf: () => OAUTH_PROTOCOL,
        serve(req, res, call) {
          serveCall(res, call, pipeline, () => answer(req, res, call, impl, pipeline, limits));
        },
      };
    },
  };
}

async function answer(
  req: NodeRequest,
  res: NodeResponse,
  call: Call,
  impl: UnaryImpl,
  pipeline: CallPipeline,
  limits: ServeLimits,
): Promise<void> {
  const method = AuthService.method.introspectToken;
  const request = httpCallRequest(req, res, call, method, OAUTH_PROTOCOL, limits);
  const header = request.context.requestHeader;
  const answered = await pipeline.invoke(
    call,
    async () => {
      requirePost(req, INTROSPECTION_PATH);
      const form = introspectionRequestOf(header.get("content-type"), await request.body());
      return create(IntrospectTokenRequestSchema, form);
    },
    (input) => impl(input, request.context) as Promise<IntrospectTokenResponse>,
  );
  request.context.abort();
  const { status, headers, body } =
    answered.rejection === undefined
      ? introspectionAnswer(answered.response)
      : introspectionRefusal(answered.rejection, header.get("authorization") !== null);
  sendWhole(req, res, status, { ...headers }, JSON.stringify(body));
}
