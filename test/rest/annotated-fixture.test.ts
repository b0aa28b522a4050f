import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type DescService, toJsonString } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_SERVE_LIMITS } from "../../src/config/serve-limits.js";
import { createCallPipeline } from "../../src/rpc/call-pipeline.js";
import { createClientAddressResolver } from "../../src/rpc/client-address.js";
import { createHttpSurface } from "../../src/server/http-surface.js";
import { createRestDoor } from "../../src/server/rest/rest-door.js";
import { buildFixtureService } from "../support/rest-fixture.js";

// A service no source file knows (its descriptors built from test/proto at test time), its
// handlers echo whatever request message they get. Serving its routes proves that adding a route
// is annotating a method and nothing else.
let service: DescService;
let server: Server;
let base: string;

function echoRoutes(desc: DescService) {
  return (router: ConnectRouter) => {
    for (const method of desc.methods) {
      router.rpc(
        method as never,
        ((req: never) => ({
          requestJson: toJsonString(method.input, req),
        })) as never,
      );
    }
  };
}

beforeAll(async () => {
  service = buildFixtureService();
  const pipeline = createCallPipeline({ resolveClientAddress: createClientAddressResolver([]) });
  const rest = createRestDoor(echoRoutes(service), pipeline, DEFAULT_SERVE_LIMITS);
  server = createServer(
    createHttpSurface({ pipeline, doors: [rest], resources: rest.answerUnrouted }),
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 30_000);

afterAll(() => new Promise((resolve) => server.close(resolve)));

async function echo(path: string, init?: RequestInit): Promise<unknown> {
  const res = await fetch(`${base}${path}`, init);
  const body = (await res.json()) as { requestJson?: string };
  if (res.status !== 200) {
    return { status: res.status, body };
  }
  return JSON.parse(body.requestJson as string);
}

describe("a test-only proto's annotations, served with no code that knows them", () => {
  it("binds a multi-segment variable, and its additional binding's single one", async () => {
    expect(await echo("/v1/shelves/s1/books/b%2F2")).toEqual({ name: "shelves/s1/books/b/2" });
    expect(await echo("/v1/books/b%202")).toEqual({ name: "b 2" });
  });

  it("takes the fields the path leaves to the query: repeated, numbers, booleans, enums, nested", async () => {
    expect(
      await echo(
        "/v1/shelves/s1/books:search?tags=a&tags=b%2Bc&pageSize=10&in_print=true&kind=KIND_NOVEL&author.familyName=Lovelace",
      ),
    ).toEqual({
      shelf: "s1",
      tags: ["a", "b+c"],
      pageSize: 10,
      inPrint: true,
      kind: "KIND_NOVEL",
      author: { familyName: "Lovelace" },
    });
  });

  it("refuses query values their fields cannot take, naming the parameter", async () => {
    for (const [query, field] of [
      ["page_size=ten", "page_size"],
      ["in_print=yes", "in_print"],
      ["kind=KIND_POEM", "kind"],
      ["shelf=s2", "shelf"],
      ["author=x", "author"],
      ["page_size=1&page_size=2", "page_size"],
    ]) {
      const answer = (await echo(`/v1/shelves/s1/books:search?${query}`)) as {
        status: number;
        body: { code: number; details: { metadata?: { field?: string } }[] };
      };
      expect(answer.status, query).toBe(400);
      expect(answer.body.code).toBe(3);
      expect(answer.body.details[0]?.metadata?.field, query).toBe(field);
    }
  });

  it("fills one field from the body, the path variable inside it, and the query beside it", async () => {
    expect(
      await echo("/v1/books/b1?update_mask=title", {
        method: "PATCH",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: "ignored", title: "Notes" }),
      }),
    ).toEqual({ book: { name: "books/b1", title: "Notes" }, updateMask: "title" });
  });

  it("serves a custom HTTP method with the rest of the path in one variable", async () => {
    expect(
      await echo("/v1/files/a/b/c.txt", {
        method: "REPORT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ note: "hi" }),
      }),
    ).toEqual({ path: "a/b/c.txt", note: "hi" });
  });

  it("answers the same paths with other methods 405, listing what is allowed", async () => {
    const res = await fetch(`${base}/v1/books/b1`, { method: "DELETE" });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET, HEAD, OPTIONS, PATCH");
  });
});
