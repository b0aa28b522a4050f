import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { SessionInfo } from "../../gen/auth/v1/auth_pb.js";

// The signed-in person's sessions, as ListSessions answers them: one list item per device, this
// one marked, each other one with a button that ends it. Built with DOM calls, never innerHTML:
// a User-Agent is whatever the other device sent.

/** What a device is called on the page: its User-Agent, or a placeholder when it sent none. */
export function deviceName(session: Pick<SessionInfo, "userAgent">): string {
  return session.userAgent === "" ? "Unknown device" : session.userAgent;
}

/** "Network 203.0.113.0/24 · signed in 2 Jan 2026, 01:00 · last seen 2 Jan 2026, 01:05". */
export function describeDevice(session: SessionInfo): string {
  const format = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  const when = (label: string, at: SessionInfo["createdAt"]) =>
    at === undefined ? [] : [`${label} ${format.format(timestampDate(at))}`];
  return [
    `Network ${session.clientAddress === "" ? "unknown" : session.clientAddress}`,
    ...when("signed in", session.createdAt),
    ...when("last seen", session.lastSeenAt),
  ].join(" · ");
}

/**
 * Replaces the items of `list` with one per session, in the order given (newest first);
 * `onEnd(sessionId, name)` runs when the person ends another device's session.
 */
export function renderSessions(
  list: HTMLUListElement,
  sessions: readonly SessionInfo[],
  onEnd: (sessionId: string, name: string) => void,
): void {
  const items = sessions.map((session) => {
    const item = document.createElement("li");
    item.dataset.sessionId = session.sessionId;
    const name = document.createElement("strong");
    name.className = "device";
    name.textContent = deviceName(session);
    item.append(name);
    if (session.current) {
      item.append(" (this device)");
    }
    const facts = document.createElement("div");
    facts.className = "device-facts";
    facts.textContent = describeDevice(session);
    item.append(facts);
    if (!session.current) {
      const end = document.createElement("button");
      end.type = "button";
      end.textContent = "End session";
      end.setAttribute("aria-label", `End the session on ${deviceName(session)}`);
      end.addEventListener("click", () => {
        end.disabled = true;
        onEnd(session.sessionId, deviceName(session));
      });
      item.append(end);
    }
    return item;
  });
  list.replaceChildren(...items);
}
