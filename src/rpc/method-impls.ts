import {
  type ConnectRouter,
  createMethodImplSpec,
  createServiceImplSpec,
  type HandlerContext,
  type MethodImplSpec,
} from "@connectrpc/connect";

/**
 * The method implementations a routes function registers, as connect's router would hold them:
 * so that a door that is not a connect router (REST) calls the very same handlers. Registering
 * goes through connect's own spec builders, so an omitted method answers UNIMPLEMENTED as it
 * does on the connect door.
 */
export function collectMethodImpls(routes: (router: ConnectRouter) => void): MethodImplSpec[] {
  const specs: MethodImplSpec[] = [];
  const router: ConnectRouter = {
    handlers: [],
    service(service, implementation) {
      specs.push(...Object.values(createServiceImplSpec(service, implementation).methods));
      return router;
    },
    rpc(method, implementation) {
      specs.push(createMethodImplSpec(method, implementation));
      return router;
    },
  };
  routes(router);
  return specs;
}

/** A unary method's handler, as every door that calls handlers itself invokes it. */
export type UnaryImpl = (request: object, context: HandlerContext) => Promise<object>;

/**
 * The handler of `spec`, which must be unary: the doors that call handlers themselves (REST,
 * grpc-js) serve unary methods only, and say so at start-up, naming the method.
 */
export function unaryImplOf(spec: MethodImplSpec): UnaryImpl {
  if (spec.kind !== "unary") {
    throw new Error(
      `${spec.method.parent.typeName}.${spec.method.name} is ${spec.kind}: only unary methods are served here`,
    );
  }
  return spec.impl as unknown as UnaryImpl;
}
