import type { DescFile } from "@bufbuild/protobuf";
import { Code, type ConnectRouter } from "@connectrpc/connect";
import { ServerReflection as ServerReflectionV1 } from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { createDescriptorIndex, type DescriptorIndex } from "./descriptor-index.js";

// No npm package serves reflection for connect-node, so it is written here over the descriptors
// that protoc-gen-es embeds in gen/.

/** A reflection request's question; v1 and v1alpha ask alike. */
type Question =
  | {
      case:
        | "fileByFilename"
        | "fileContainingSymbol"
        | "allExtensionNumbersOfType"
        | "listServices";
      value: string;
    }
  | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
  | { case: undefined; value?: undefined };

/** A reflection response's answer; v1 and v1alpha answer alike. */
type Answer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | {
      case: "allExtensionNumbersResponse";
      value: { baseTypeName: string; extensionNumber: number[] };
    }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

/**
 * Registers grpc.reflection.v1.ServerReflection and grpc.reflection.v1alpha.ServerReflection on
 * `router`. They describe every service registered on it (whenever registered, themselves
 * included) and `extraFiles` (e.g. error detail types clients should decode), with all imports.
 * A question about something unknown gets an error response with NOT_FOUND, and the stream goes on.
 */
export function registerReflection(
  router: ConnectRouter,
  options: { readonly extraFiles?: readonly DescFile[] } = {},
): void {
  let index: DescriptorIndex | undefined;
  // Built on first use, when the router holds every service, whatever the order of registration.
  const indexNow = () => {
    index ??= createDescriptorIndex(
      router.handlers.map((handler) => handler.service),
      options.extraFiles,
    );
    return index;
  };
  async function* answerEach<R extends { host: string; messageRequest: Question }>(
    requests: AsyncIterable<R>,
  ) {
    for await (const request of requests) {
      yield {
        validHost: request.host,
        originalRequest: request,
        messageResponse: answer(indexNow(), request.messageRequest),
      };
    }
  }
  router.service(ServerReflectionV1, { serverReflectionInfo: answerEach });
  router.service(ServerReflectionV1alpha, { serverReflectionInfo: answerEach });
}

function answer(index: DescriptorIndex, question: Question): Answer {
  switch (question.case) {
    case "listServices":
      return {
        case: "listServicesResponse",
        value: { service: index.serviceNames.map((name) => ({ name })) },
      };
    case "fileByFilename":
      return files(index, index.fileByName(question.value), `file ${question.value}`);
    case "fileContainingSymbol":
      return files(index, index.fileContainingSymbol(question.value), `symbol ${question.value}`);
    case "fileContainingExtension": {
      const { containingType, extensionNumber } = question.value;
      const extension = index.extensionsOf(containingType).get(extensionNumber);
      return files(index, extension?.file, `extension ${extensionNumber} of ${containingType}`);
    }
    case "allExtensionNumbersOfType": {
      if (index.message(question.value) === undefined) {
        return notFound(`message type ${question.value}`);
      }
      const numbers = [...index.extensionsOf(question.value).keys()].sort((a, b) => a - b);
      return {
        case: "allExtensionNumbersResponse",
        value: { baseTypeName: question.value, extensionNumber: numbers },
      };
    }
    case undefined:
      return {
        case: "errorResponse",
        value: { errorCode: Code.InvalidArgument, errorMessage: "the request asks nothing" },
      };
  }
}

function files(index: DescriptorIndex, file: DescFile | undefined, what: string): Answer {
  if (file === undefined) {
    return notFound(what);
  }
  return {
    case: "fileDescriptorResponse",
    value: { fileDescriptorProto: index.serializeWithDependencies(file) },
  };
}

function notFound(what: string): Answer {
  return {
    case: "errorResponse",
    value: { errorCode: Code.NotFound, errorMessage: `${what} not found` },
  };
}
