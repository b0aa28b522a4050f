import { describe, expect, it } from "vitest";
import { HostListError, parseHostList } from "../../src/storage/postgres/host-list.js";

describe("DATABASE_URL's hosts, read as libpq lists them", () => {
  it("keeps a one-host URL exactly as it is", () => {
    const url = "postgres://otp:secret@db.internal:6432/otp?sslmode=require";
    expect(parseHostList(url)).toEqual({
      hosts: [{ name: "db.internal:6432", url }],
      targetSessionAttrs: "any",
    });
  });

  it("gives each of several hosts a URL of its own, with the user, database and parameters", () => {
    const list = parseHostList(
      "postgresql://otp:s%40cret@db1,db2:5433,[fd00::2]:6432/otp?target_session_attrs=primary&sslmode=verify-full",
    );
    expect(list.targetSessionAttrs).toBe("primary");
    expect(list.hosts).toEqual([
      {
        name: "db1:5432",
        url: "postgresql://otp:s%40cret@db1:5432/otp?target_session_attrs=primary&sslmode=verify-full",
      },
      {
        name: "db2:5433",
        url: "postgresql://otp:s%40cret@db2:5433/otp?target_session_attrs=primary&sslmode=verify-full",
      },
      {
        name: "[fd00::2]:6432",
        url: "postgresql://otp:s%40cret@[fd00::2]:6432/otp?target_session_attrs=primary&sslmode=verify-full",
      },
    ]);
  });

  it.each([
    ["postgres://db1,db2/otp", /several hosts need target_session_attrs=read-write/],
    ["postgres://db1,db2/otp?target_session_attrs=any", /several hosts need/],
    ["postgres://db1,db2/otp?target_session_attrs=prefer-standby", /would connect to a standby/],
    ["postgres://db1/otp?target_session_attrs=readwrite", /must be read-write, primary or any/],
    ["postgres://db1,db2:x/otp?target_session_attrs=read-write", /host 2 of the list/],
    ["postgres://db1,,db2/otp?target_session_attrs=read-write", /host 2 of the list/],
    ["postgres://db1,db2/otp?target_session_attrs=read-write&port=5433", /not also in host/],
    ["mysql://db1/otp", /expected a URL like postgres:/],
  ])("refuses %s", (url, why) => {
    expect(() => parseHostList(url)).toThrow(HostListError);
    expect(() => parseHostList(url)).toThrow(why);
  });
});
