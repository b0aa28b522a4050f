import {
  type DescEnum,
  type DescExtension,
  type DescFile,
  type DescMessage,
  type DescService,
  toBinary,
} from "@bufbuild/protobuf";
import { nestedTypes } from "@bufbuild/protobuf/reflect";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";

/** The .proto files behind a set of services, looked up the ways server reflection asks. */
export interface DescriptorIndex {
  /** Fully-qualified names of the services, in the order given. */
  readonly serviceNames: readonly string[];
  /** The file named `name` (e.g. "auth/v1/auth.proto"), if it is in the index. */
  fileByName(name: string): DescFile | undefined;
  /**
   * The file declaring `symbol`: a service, method, message, field, oneof, enum, enum value or
   * extension, fully qualified without a leading dot.
   */
  fileContainingSymbol(symbol: string): DescFile | undefined;
  /** The message type named `typeName`, if the index knows it. */
  message(typeName: string): DescMessage | undefined;
  /** The extensions of `typeName` that the index knows, by field number. */
  extensionsOf(typeName: string): ReadonlyMap<number, DescExtension>;
  /** `file` and everything it imports, transitively, each once and `file` first, serialized. */
  serializeWithDependencies(file: DescFile): Uint8Array[];
}

/**
 * Indexes the files declaring `services` and `extraFiles`, with all their imports (the
 * google/protobuf well-known types among them), so that clients need no .proto files.
 */
export function createDescriptorIndex(
  services: readonly DescService[],
  extraFiles: readonly DescFile[] = [],
): DescriptorIndex {
  const files = new Map<string, DescFile>();
  const addFile = (file: DescFile) => {
    if (!files.has(file.proto.name)) {
      files.set(file.proto.name, file);
      file.dependencies.forEach(addFile);
    }
  };
  for (const file of [...services.map((service) => service.file), ...extraFiles]) {
    addFile(file);
  }

  const symbols = new Map<string, DescFile>();
  const messages = new Map<string, DescMessage>();
  const extensions = new Map<string, Map<number, DescExtension>>();
  for (const file of files.values()) {
    for (const type of nestedTypes(file)) {
      for (const name of symbolsOf(type)) {
        if (!symbols.has(name)) {
          symbols.set(name, file);
        }
      }
      if (type.kind === "message") {
        messages.set(type.typeName, type);
      } else if (type.kind === "extension") {
        const byNumber = extensions.get(type.extendee.typeName) ?? new Map();
        extensions.set(type.extendee.typeName, byNumber.set(type.number, type));
      }
    }
  }

  const serialized = new Map<DescFile, Uint8Array>();
  const serialize = (file: DescFile) => {
    let bytes = serialized.get(file);
    if (bytes === undefined) {
      bytes = toBinary(FileDescriptorProtoSchema, file.proto);
      serialized.set(file, bytes);
    }
    return bytes;
  };

  return {
    serviceNames: [...new Set(services.map((service) => service.typeName))],
    fileByName: (name) => files.get(name),
    fileContainingSymbol: (symbol) => symbols.get(symbol),
    message: (typeName) => messages.get(typeName),
    extensionsOf: (typeName) => extensions.get(typeName) ?? new Map(),
    serializeWithDependencies(file) {
      const closure = new Set<DescFile>();
      const visit = (f: DescFile) => {
        if (!closure.has(f)) {
          closure.add(f);
          f.dependencies.forEach(visit);
        }
      };
      visit(file);
      return [...closure].map(serialize);
    },
  };
}

/** The fully-qualified names a type declares: its own and its members'. */
function symbolsOf(type: DescMessage | DescEnum | DescExtension | DescService): string[] {
  switch (type.kind) {
    case "message":
      return [
        type.typeName,
        ...type.fields.map((field) => `${type.typeName}.${field.name}`),
        ...type.oneofs.map((oneof) => `${type.typeName}.${oneof.name}`),
      ];
    case "enum": {
      // Enum values are scoped like siblings of their enum, not inside it (C++ scoping rules).
      const scope = type.typeName.slice(0, type.typeName.lastIndexOf(".") + 1);
      return [type.typeName, ...type.values.map((value) => `${scope}${value.name}`)];
    }
    case "service":
      return [type.typeName, ...type.methods.map((method) => `${type.typeName}.${method.name}`)];
    case "extension":
      return [type.typeName];
  }
}
