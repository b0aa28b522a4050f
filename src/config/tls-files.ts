import { ConfigError } from "./parse-values.js";

/** Where the certificate and key are read from (TLS_CERT_FILE, TLS_KEY_FILE), in PEM. */
export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

/**
 * Both files or neither (null: plaintext). A certificate without its key, or the reverse, cannot
 * serve TLS: throws a ConfigError naming the missing one. The files are read later, by
 * server/tls.ts, at start-up and on SIGHUP.
 */
export function parseTlsFiles(
  certFile: string | undefined,
  keyFile: string | undefined,
): TlsFiles | null {
  if (certFile === undefined && keyFile === undefined) {
    return null;
  }
  if (certFile === undefined) {
    throw new ConfigError(
      "TLS_CERT_FILE",
      "",
      "required with TLS_KEY_FILE: a PEM certificate file",
    );
  }
  if (keyFile === undefined) {
    throw new ConfigError(
      "TLS_KEY_FILE",
      "",
      "required with TLS_CERT_FILE: a PEM private key file",
    );
  }
  return { certFile: certFile.trim(), keyFile: keyFile.trim() };
}
