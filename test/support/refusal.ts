import { OtpError, type Refusal } from "../../src/domain/errors.js";

/** Awaits `call` and returns the refusal it was rejected with; fails if it resolved or threw otherwise. */
export async function refusalOf(call: Promise<unknown>): Promise<Refusal> {
  try {
    await call;
  } catch (error) {
    if (error instanceof OtpError) {
      return error.refusal;
    }
    throw error;
  }
  throw new Error("expected a refusal, but the call succeeded");
}
