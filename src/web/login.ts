import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AuthService } from "../../gen/auth/v1/auth_pb.js";
import { describeWait } from "../domain/errors.js";
import { describeError } from "./messages.js";
import { renderSessions } from "./session-list.js";
import {
  describeSession,
  forgetSessionToken,
  keepSessionToken,
  readSessionToken,
} from "./session-storage.js";

// The login page: email → RequestOtp → code → VerifyOtp, over Connect with JSON, on the origin
// that served the page. The session token VerifyOtp answers is kept in sessionStorage; who is
// signed in, and until when, is asked with GetStatus(session_token) (POST: the token never goes
// into a URL), also after a reload. Messages go to two live regions: progress to a polite
// status, failures to an alert. Once signed in, the page lists where else the person is
// signed in (ListSessions) and lets them end any of those sessions (SignOut with session_id).

const client = createClient(AuthService, createConnectTransport({ baseUrl: location.origin }));

function byId<T extends HTMLElement>(id: string, type: new () => T): T {
  const element = document.getElementById(id);
  if (!(element instanceof type)) {
    throw new Error(`the page has no #${id}`);
  }
  return element;
}

const requestForm = byId("request-form", HTMLFormElement);
const verifyForm = byId("verify-form", HTMLFormElement);
const emailInput = byId("email", HTMLInputElement);
const codeInput = byId("code", HTMLInputElement);
const sessionForm = byId("session-form", HTMLFormElement);
const devices = byId("devices", HTMLElement);
const deviceList = byId("device-list", HTMLUListElement);
const status = byId("status", HTMLParagraphElement);
const alert = byId("alert", HTMLParagraphElement);

/** The address the last code went to; verification is for that one, whatever is typed since. */
let sentTo = "";
let sentOtpId = "";

function show(region: HTMLElement, text: string): void {
  status.textContent = "";
  alert.textContent = "";
  region.textContent = text;
}

/** Runs one call for `form`, with its buttons disabled meanwhile and any failure explained. */
function handle(form: HTMLFormElement, call: () => Promise<void>): void {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const buttons = form.querySelectorAll("button");
    for (const button of buttons) {
      button.disabled = true;
    }
    form.setAttribute("aria-busy", "true");
    call()
      .catch((error: unknown) => show(alert, describeError(error)))
      .finally(() => {
        for (const button of buttons) {
          button.disabled = false;
        }
        form.removeAttribute("aria-busy");
      });
  });
}

handle(requestForm, async () => {
  const email = emailInput.value.trim();
  const sent = await client.requestOtp({ email });
  sentTo = email;
  // Bound to this request: the code is judged alone, whatever else anyone sends for this address.
  sentOtpId = sent.otpId;
  const expiresIn =
    sent.ttl === undefined
      ? ""
      : ` It expires in ${describeWait(Number(sent.ttl.seconds) * 1000)}.`;
  verifyForm.hidden = false;
  codeInput.value = "";
  codeInput.focus();
  show(status, `We sent a ${sent.codeLength}-digit code to ${email}.${expiresIn}`);
});

handle(verifyForm, async () => {
  const verified = await client.verifyOtp({
    email: sentTo,
    otp: codeInput.value.trim(),
    otpId: sentOtpId,
  });
  if (!verified.authenticated) {
    show(alert, "That did not work — try again.");
    return;
  }
  keepSessionToken(verified.sessionToken);
  await showSession();
});

handle(sessionForm, async () => {
  const sessionToken = readSessionToken();
  if (sessionToken !== null) {
    await client.signOut({ sessionToken });
  }
  forgetSessionToken();
  showForms();
  show(status, "Signed out.");
});

/** The forms for signing in, and no session. */
function showForms(): void {
  requestForm.hidden = false;
  verifyForm.hidden = true;
  sessionForm.hidden = true;
  devices.hidden = true;
  deviceList.replaceChildren();
}

/** Lists the person's sessions; ending one lists them again. */
async function showDevices(sessionToken: string): Promise<void> {
  const { sessions } = await client.listSessions({ sessionToken });
  renderSessions(deviceList, sessions, (sessionId, name) => {
    client
      .signOut({ sessionToken, sessionId })
      .then(() => showDevices(sessionToken))
      .then(() => show(status, `Ended the session on ${name}.`))
      .catch((error: unknown) => show(alert, describeError(error)));
  });
  devices.hidden = sessions.length === 0;
}

/**
 * Shows the kept session as the service knows it. A token the service no longer answers for
 * (signed out elsewhere, expired) is forgotten, and the forms come back.
 */
async function showSession(): Promise<void> {
  const sessionToken = readSessionToken();
  if (sessionToken === null) {
    return;
  }
  const session = await client.getStatus({ sessionToken });
  if (!session.authenticated || session.sessionExpiresAt === undefined) {
    forgetSessionToken();
    showForms();
    return;
  }
  requestForm.hidden = true;
  verifyForm.hidden = true;
  sessionForm.hidden = false;
  const expiresAt = new Date(Number(session.sessionExpiresAt.seconds) * 1000);
  show(status, describeSession(session.email, expiresAt));
  await showDevices(sessionToken);
}

showSession().catch((error: unknown) => show(alert, describeError(error)));
