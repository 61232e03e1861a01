import { webcrypto } from 'node:crypto';
// @peculiar/x509 needs a Reflect metadata polyfill before it loads. This
// module is only imported (dynamically) when a cache asks for `tls: true`,
// so runs without TLS never load either.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

// Main-process only: the per-run certificate authority behind `tls: true`.
// ECDSA P-256 keys: generating one takes well under a millisecond, where an
// RSA key would add tens of milliseconds to every pod start.

const crypto = webcrypto;
x509.cryptoProvider.set(crypto as unknown as ReturnType<typeof x509.cryptoProvider.get>);

type CryptoKeyPair = webcrypto.CryptoKeyPair;

const KEY_ALGORITHM: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING_ALGORITHM: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };

export interface ServerCertificate {
  /** PEM certificate of the server (leaf only; clients trust the CA). */
  certPem: string;
  /** PEM PKCS#8 private key of the server. */
  keyPem: string;
  /** The name clients must check the certificate against (its DNS SAN). */
  servername: string;
}

/**
 * A throwaway CA for one run: its key never leaves this process, and its
 * certificate (the trust anchor handed to clients) expires with the run.
 */
export class RunCertificateAuthority {
  private readonly keys: CryptoKeyPair;
  private readonly cert: x509.X509Certificate;
  private readonly validUntil: Date;

  private constructor(keys: CryptoKeyPair, cert: x509.X509Certificate, validUntil: Date) {
    this.keys = keys;
    this.cert = cert;
    this.validUntil = validUntil;
  }

  static async create(runId: string, validForMs: number): Promise<RunCertificateAuthority> {
    const keys = (await crypto.subtle.generateKey(KEY_ALGORITHM, false, [
      'sign',
      'verify',
    ])) as CryptoKeyPair;
    // A minute of slack either side: the cluster's clock may differ a little.
    const notBefore = new Date(Date.now() - 60_000);
    const notAfter = new Date(Date.now() + validForMs + 60_000);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerial(),
      name: `CN=kubecache run ${runId} CA`,
      notBefore,
      notAfter,
      keys,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
          true,
        ),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return new RunCertificateAuthority(keys, cert, notAfter);
  }

  /** The CA certificate in PEM, for clients' trust store (`tls: { ca }`). */
  get caPem(): string {
    return this.cert.toString('pem');
  }

  /**
   * A server certificate for one pod. Its DNS name is the pod's name, and it
   * also covers localhost and 127.0.0.1 (port-forwards). The pod IP is not
   * known before the pod exists, so clients check the pod name instead
   * (`servername`), which every Node TLS client supports.
   */
  async issueServer(podName: string): Promise<ServerCertificate> {
    const keys = (await crypto.subtle.generateKey(KEY_ALGORITHM, true, [
      'sign',
      'verify',
    ])) as CryptoKeyPair;
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: `CN=${podName}`,
      issuer: this.cert.subject,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: this.validUntil,
      publicKey: keys.publicKey,
      signingKey: this.keys.privateKey,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([
          { type: 'dns', value: podName },
          { type: 'dns', value: 'localhost' },
          { type: 'ip', value: '127.0.0.1' },
        ]),
        await x509.AuthorityKeyIdentifierExtension.create(this.cert),
      ],
    });
    const pkcs8 = await crypto.subtle.exportKey('pkcs8', keys.privateKey);
    return {
      certPem: cert.toString('pem'),
      keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'),
      servername: podName,
    };
  }
}

function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  // A positive INTEGER: the top bit of the first byte must be clear.
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return Buffer.from(bytes).toString('hex');
}
