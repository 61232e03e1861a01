import type { networkInterfaces } from 'node:os';
import { ENV_ADVERTISE_URL, readAdvertiseUrl, readPodIp } from '../config/env.js';
import { KubecacheError } from '../errors.js';

export interface AdvertiseInput {
  interfaces: ReturnType<typeof networkInterfaces>;
  /** IP of a cache pod; used to find the local interface on the pod network. */
  podIP?: string;
  env: NodeJS.ProcessEnv;
  /** True when kubecache itself runs inside a pod. */
  inCluster: boolean;
}

export interface AdvertiseChoice {
  host: string;
  /** Only set when KUBECACHE_ADVERTISE_URL names a port (e.g. a NAT or proxy in front). */
  port?: number;
  source: 'env' | 'pod-network' | 'in-cluster';
}

export const ADVERTISE_URL_ENV = ENV_ADVERTISE_URL;

const NEXT_STEP =
  `Set ${ADVERTISE_URL_ENV} (e.g. http://10.0.0.5:8080) to an address of this machine ` +
  'that pods can reach, or set KUBECACHE_SEED_TRANSPORT=exec, which streams the fixture through ' +
  'the Kubernetes API instead.';

/**
 * Picks the address cache pods should use to download fixtures from this
 * process. Pure (the caller passes os.networkInterfaces() and process.env) so
 * every branch can be tested with fabricated tables.
 */
export function pickAdvertiseHost(input: AdvertiseInput): AdvertiseChoice {
  const fromEnv = readAdvertiseUrl(input.env);
  if (fromEnv !== undefined) return parseAdvertiseUrl(fromEnv);

  const ipv4 = listIPv4(input.interfaces);
  if (input.inCluster) {
    // Downward-API variables are exact; interface order is only a good guess
    // (a pod normally has just eth0 besides loopback).
    const fromPod = readPodIp(input.env);
    if (fromPod) return { host: fromPod, source: 'in-cluster' };
    const first = ipv4.find((entry) => !entry.internal);
    if (first) return { host: first.address, source: 'in-cluster' };
    throw new KubecacheError(
      'UNREACHABLE',
      'kubecache runs inside a pod but found no pod IP: neither POD_IP nor KUBECACHE_POD_IP ' +
        'is set and there is no non-loopback IPv4 interface. Expose the pod IP with the ' +
        `downward API (env POD_IP from fieldRef status.podIP). ${NEXT_STEP}`,
      { inCluster: true },
    );
  }

  const podIP = input.podIP === undefined ? undefined : parseIPv4(input.podIP);
  if (podIP === undefined) {
    throw new KubecacheError(
      'UNREACHABLE',
      `Cannot tell which local address pods reach: ${
        input.podIP === undefined ? 'no pod IP is known yet' : `pod IP ${input.podIP} is not IPv4`
      }. ${NEXT_STEP}`,
      { podIP: input.podIP },
    );
  }
  // Longest prefix first, so a /24 bridge beats a /8 route that also contains the pod.
  let best: { address: string; prefix: number } | undefined;
  for (const entry of ipv4) {
    if (entry.internal) continue;
    const address = parseIPv4(entry.address);
    const mask = parseIPv4(entry.netmask);
    if (address === undefined || mask === undefined) continue;
    if (((address ^ podIP) & mask) !== 0) continue;
    const prefix = popcount(mask);
    if (!best || prefix > best.prefix) best = { address: entry.address, prefix };
  }
  if (best) return { host: best.address, source: 'pod-network' };
  throw new KubecacheError(
    'UNREACHABLE',
    `No local network interface is on the same subnet as pod IP ${input.podIP}, so pods ` +
      `probably cannot connect back to this machine (local IPv4: ${
        ipv4
          .filter((e) => !e.internal)
          .map((e) => `${e.address}/${e.netmask}`)
          .join(', ') || 'none'
      }). ${NEXT_STEP}`,
    { podIP: input.podIP },
  );
}

function parseAdvertiseUrl(value: string): AdvertiseChoice {
  let url: URL;
  try {
    url = new URL(value);
  } catch (err) {
    throw invalidUrl(value, 'it is not a URL', err);
  }
  if (url.protocol !== 'http:') throw invalidUrl(value, 'only http:// is served');
  if (url.hostname === '') throw invalidUrl(value, 'it has no host');
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
    throw invalidUrl(value, 'give only scheme, host and port; kubecache chooses the path');
  }
  // URL keeps IPv6 literals bracketed; callers want the bare address.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const choice: AdvertiseChoice = { host, source: 'env' };
  if (url.port !== '') choice.port = Number(url.port);
  return choice;
}

function invalidUrl(value: string, why: string, cause?: unknown): KubecacheError {
  return new KubecacheError(
    'BAD_OPTION',
    `${ADVERTISE_URL_ENV}=${JSON.stringify(value)} is invalid: ${why}. ` +
      'Use the form http://<address pods can reach>[:<port>], e.g. http://10.0.0.5:8080.',
    { [ADVERTISE_URL_ENV]: value },
    cause === undefined ? undefined : { cause },
  );
}

interface IPv4Entry {
  address: string;
  netmask: string;
  internal: boolean;
}

function listIPv4(interfaces: AdvertiseInput['interfaces']): IPv4Entry[] {
  const out: IPv4Entry[] = [];
  for (const entries of Object.values(interfaces)) {
    for (const entry of entries ?? []) {
      if (entry.family === 'IPv4') {
        out.push({ address: entry.address, netmask: entry.netmask, internal: entry.internal });
      }
    }
  }
  return out;
}

/** Dotted quad to an unsigned 32-bit number, or undefined when it is not one. */
export function parseIPv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^[0-9]{1,3}$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value >>> 0;
}

function popcount(value: number): number {
  let count = 0;
  for (let v = value >>> 0; v !== 0; v >>>= 1) count += v & 1;
  return count;
}
