import {
  create,
  createFileRegistry,
  type DescFile,
  fromBinary,
  type MessageInitShape,
} from "@bufbuild/protobuf";
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
} from "@bufbuild/protobuf/wkt";
import { Code, createClient, createRouterTransport } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import {
  ServerReflection,
  type ServerReflectionRequestSchema,
} from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { registerReflection } from "../../src/rpc/reflection.js";

// The service's own protos declare no extensions, so this schema supplies some: a proto2 message
// `example.Base` open for extensions 100-199, extended in the same file by `example.note` (100) and
// `example.tag` (150).
const extensionsFile: DescFile = (() => {
  const extension = (name: string, number: number) => ({
    name,
    number,
    label: FieldDescriptorProto_Label.OPTIONAL,
    type: FieldDescriptorProto_Type.STRING,
    extendee: ".example.Base",
  });
  const proto = create(FileDescriptorProtoSchema, {
    name: "example/extensions.proto",
    package: "example",
    syntax: "proto2",
    messageType: [{ name: "Base", extensionRange: [{ start: 100, end: 200 }] }],
    extension: [extension("tag", 150), extension("note", 100)],
  });
  return createFileRegistry(proto, () => undefined).getFile(proto.name) as DescFile;
})();

function reflectionClient() {
  const transport = createRouterTransport((router) =>
    registerReflection(router, { extraFiles: [extensionsFile] }),
  );
  return createClient(ServerReflection, transport);
}

async function askOne(request: MessageInitShape<typeof ServerReflectionRequestSchema>) {
  for await (const response of reflectionClient().serverReflectionInfo(
    (async function* () {
      yield request;
    })(),
  )) {
    return response.messageResponse;
  }
  throw new Error("the stream ended without an answer");
}

describe("server reflection of extensions", () => {
  it("lists a message type's extension numbers in order", async () => {
    expect(
      await askOne({
        messageRequest: { case: "allExtensionNumbersOfType", value: "example.Base" },
      }),
    ).toEqual({
      case: "allExtensionNumbersResponse",
      value: expect.objectContaining({ baseTypeName: "example.Base", extensionNumber: [100, 150] }),
    });
  });

  it("answers the file declaring an extension, by extendee and number or by name", async () => {
    for (const messageRequest of [
      {
        case: "fileContainingExtension" as const,
        value: { containingType: "example.Base", extensionNumber: 150 },
      },
      { case: "fileContainingSymbol" as const, value: "example.note" },
    ]) {
      const answer = await askOne({ messageRequest });
      expect(answer.case).toBe("fileDescriptorResponse");
      const [file] = (answer.value as { fileDescriptorProto: Uint8Array[] }).fileDescriptorProto;
      expect(fromBinary(FileDescriptorProtoSchema, file as Uint8Array).name).toBe(
        "example/extensions.proto",
      );
    }
  });

  it("answers NOT_FOUND for a number no extension has", async () => {
    const answer = await askOne({
      messageRequest: {
        case: "fileContainingExtension",
        value: { containingType: "example.Base", extensionNumber: 120 },
      },
    });
    expect(answer).toEqual({
      case: "errorResponse",
      value: expect.objectContaining({ errorCode: Code.NotFound }),
    });
  });
});
