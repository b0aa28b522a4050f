import { create, type DescMethod, type JsonObject } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import {
  AuthService,
  RequestOtpRequestSchema,
  type RequestOtpResponse,
  VerifyOtpRequestSchema,
} from "../../../gen/auth/v1/auth_pb.js";
import type { ServeLimits } from "../../config/serve-limits.js";
import type { Call } from "../../rpc/call-context.js";
import type { CallPipeline } from "../../rpc/call-pipeline.js";
import { invalidParameter } from "../../rpc/framework-refusals.js";
import { collectMethodImpls, type UnaryImpl, unaryImplOf } from "../../rpc/method-impls.js";
import { httpCallRequest, requirePost, serveCall } from "../http-call.js";
import { sendWhole } from "../http-response.js";
import type { HttpDoor, NodeRequest, NodeResponse } from "../http-surface.js";
import { jsonObjectOf, parseJsonBody } from "../json-body.js";
import {
  refusalAnswer,
  requestOtpAnswer,
  requestOtpOf,
  type SeedBAnswer,
  VERIFIED,
  verifyOtpOf,
} from "./seed-b-wire.js";

/** The protocol label of seed B's calls in logs and metrics. */
export const SEED_B_PROTOCOL = "seed-b";

const IDEMPOTENCY_KEY = "idempotency-key";

/** One route of the dialect: the RPC it calls and how its body and answer are read and written. */
interface SeedBRoute {
  readonly method: DescMethod;
  /** The RPC's request message from the body and the request's headers. */
  request(body: JsonObject, header: Headers): object;
  /** The RPC's response as seed B answers it. */
  answer(response: unknown): SeedBAnswer;
}

const ROUTES: ReadonlyMap<string, SeedBRoute> = new Map([
  [
    "/otp/request",
    {
      method: AuthService.method.requestOtp,
      request(body, header) {
        // Seed B requires the key: a retried request must never send a second code.
        if (header.get(IDEMPOTENCY_KEY) === null) {
          throw invalidParameter("idempotency_key", "the Idempotency-Key header is required");
        }
        return create(RequestOtpRequestSchema, requestOtpOf(body));
      },
      answer: (response) => requestOtpAnswer(response as RequestOtpResponse),
    },
  ],
  [
    "/otp/verify",
    {
      method: AuthService.method.verifyOtp,
      request: (body) => create(VerifyOtpRequestSchema, verifyOtpOf(body)),
      answer: () => VERIFIED,
    },
  ],
]);

/**
 * Seed B's HTTP dialect on the main port: `POST /otp/request` and `POST /otp/verify`, for
 * applications that name their users by their own ids (`user_id`, the service's external_id). A
 * door like the others, in three steps around the call pipeline: the surface starts the call; the
 * JSON body (read by the same policy as REST's) becomes RequestOtp's or VerifyOtp's request and
 * goes with the very handler every door calls to pipeline.invoke; the answer or refusal is written
 * in seed B's words (seed-b-wire.ts). Another method on these paths is 405 in the same shape.
 */
export function createSeedBDoor(
  routes: (router: ConnectRouter) => void,
  pipeline: CallPipeline,
  limits: ServeLimits,
): HttpDoor {
  const impls = new Map(collectMethodImpls(routes).map((spec) => [spec.method, spec] as const));
  const served = new Map(
    [...ROUTES].map(([path, route]) => {
      const spec = impls.get(route.method);
      if (spec === undefined) {
        throw new Error(
          `seed B's ${path} needs ${route.method.parent.typeName}.${route.method.name}`,
        );
      }
      return [path, { route, impl: unaryImplOf(spec) }] as const;
    }),
  );
  return {
    route(path) {
      const target = served.get(path);
      if (target === undefined) {
        return undefined;
      }
      return {
        method: `${target.route.method.parent.typeName}/${target.route.method.name}`,
        protocolOf: () => SEED_B_PROTOCOL,
        serve(req, res, call) {
          serveCall(res, call, pipeline, () =>
            answer(req, res, call, path, target.route, target.impl, pipeline, limits),
          );
        },
      };
    },
  };
}

async function answer(
  req: NodeRequest,
  res: NodeResponse,
  call: Call,
  path: string,
  route: SeedBRoute,
  impl: UnaryImpl,
  pipeline: CallPipeline,
  limits: ServeLimits,
): Promise<void> {
  const request = httpCallRequest(req, res, call, route.method, SEED_B_PROTOCOL, limits);
  const header = request.context.requestHeader;
  const answered = await pipeline.invoke(
    call,
    async () => {
      requirePost(req, path);
      const body = parseJsonBody(header.get("content-type"), await request.body());
      return route.request(jsonObjectOf(body, path), header);
    },
    async (input) => route.answer(await impl(input, request.context)),
  );
  request.context.abort();
  const { status, headers, body } =
    answered.rejection === undefined ? answered.response : refusalAnswer(answered.rejection);
  sendWhole(
    req,
    res,
    status,
    { ...headers, "content-type": "application/json" },
    JSON.stringify(body),
  );
}
