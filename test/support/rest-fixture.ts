import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createFileRegistry, type DescService, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";

const root = fileURLToPath(new URL("../..", import.meta.url));

/**
 * `rest_fixture.v1.FixtureService` (test/proto/rest_fixture/v1/fixture.proto), a service no source
 * file knows: its descriptors are built by buf (offline) when a test asks, never into gen/.
 */
export function buildFixtureService(): DescService {
  const set = execFileSync(
    "npx",
    ["buf", "build", "--path", "test/proto/rest_fixture/v1/fixture.proto", "-o", "-"],
    { cwd: root, maxBuffer: 16 << 20 },
  );
  const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, set));
  return registry.getService("rest_fixture.v1.FixtureService") as DescService;
}
