import {
  type ConnectRouter,
  createMethodImplSpec,
  createServiceImplSpec,
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
