import type { UniversalHandler } from "@connectrpc/connect/protocol";

/**
 * `serve` dressed as `handler`: same path, method, service, protocols and content types, so the
 * router and adapter treat it as the handler it wraps.
 */
export function replaceHandler(
  handler: UniversalHandler,
  serve: (req: Parameters<UniversalHandler>[0]) => ReturnType<UniversalHandler>,
): UniversalHandler {
  return Object.assign(serve, {
    requestPath: handler.requestPath,
    method: handler.method,
    service: handler.service,
    protocolNames: handler.protocolNames,
    allowedMethods: handler.allowedMethods,
    supportedContentType: handler.supportedContentType,
  });
}
