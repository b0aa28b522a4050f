import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { ConfigError } from "../config/parse-values.js";
import type { TlsFiles } from "../config/tls-files.js";

/** A certificate chain and its private key, in PEM, checked to belong together. */
export interface TlsKeyPair {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/**
 * Reads and checks the key pair `files` name: what node's tls, https and http2 servers and
 * grpc-js's `ServerCredentials.createSsl` take. Called at start-up and again on SIGHUP, so that a
 * renewed certificate needs no restart. Throws a ConfigError naming TLS_CERT_FILE or TLS_KEY_FILE
 * when a file cannot be read, holds no PEM certificate or key, or the key is not the
 * certificate's.
 */
export function loadTlsKeyPair(files: TlsFiles): TlsKeyPair {
  const cert = readPem("TLS_CERT_FILE", files.certFile);
  const key = readPem("TLS_KEY_FILE", files.keyFile);
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch {
    throw new ConfigError("TLS_CERT_FILE", files.certFile, "expected a PEM certificate");
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new ConfigError("TLS_KEY_FILE", files.keyFile, "expected an unencrypted PEM private key");
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new ConfigError(
      "TLS_KEY_FILE",
      files.keyFile,
      `expected the private key of the certificate in TLS_CERT_FILE (${files.certFile})`,
    );
  }
  return { cert, key };
}

function readPem(variable: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new ConfigError(variable, file, `expected a readable PEM file (${reason})`);
  }
}
