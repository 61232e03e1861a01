import type { NetworkInterfaceInfo, networkInterfaces } from 'node:os';
import { describe, expect, it } from 'vitest';
import { isKubecacheError, type KubecacheError } from '../../src/errors.js';
import { parseIPv4, pickAdvertiseHost } from '../../src/seed/advertise.js';

type Interfaces = ReturnType<typeof networkInterfaces>;

function v4(address: string, netmask: string, internal = false): NetworkInterfaceInfo {
  return {
    address,
    netmask,
    family: 'IPv4',
    mac: '02:42:ac:11:00:02',
    internal,
    cidr: null,
  };
}

function v6(address: string, internal = false): NetworkInterfaceInfo {
  return {
    address,
    netmask: 'ffff:ffff:ffff:ffff::',
    family: 'IPv6',
    mac: '02:42:ac:11:00:02',
    internal,
    cidr: null,
    scopeid: 0,
  };
}

const loopback = { lo: [v4('127.0.0.1', '255.0.0.0', true), v6('::1', true)] };

// Like the dev machine: an uplink, a docker bridge and the cluster's pod bridge.
const devHost: Interfaces = {
  ...loopback,
  eth0: [v4('192.168.1.20', '255.255.255.0'), v6('fe80::1')],
  docker0: [v4('172.17.0.1', '255.255.0.0')],
  kc0: [v4('10.244.0.1', '255.255.0.0')],
};

function thrown(fn: () => unknown): KubecacheError {
  try {
    fn();
  } catch (err) {
    return err as KubecacheError;
  }
  throw new Error('expected an error');
}

describe('pickAdvertiseHost', () => {
  it('prefers KUBECACHE_ADVERTISE_URL, with or without a port', () => {
    const env = { KUBECACHE_ADVERTISE_URL: 'http://10.0.0.5:8080' };
    expect(
      pickAdvertiseHost({ interfaces: devHost, podIP: '10.244.0.7', env, inCluster: false }),
    ).toEqual({ host: '10.0.0.5', port: 8080, source: 'env' });
    expect(
      pickAdvertiseHost({
        interfaces: {},
        env: { KUBECACHE_ADVERTISE_URL: ' http://runner.internal/ ' },
        inCluster: true,
      }),
    ).toEqual({ host: 'runner.internal', source: 'env' });
    expect(
      pickAdvertiseHost({
        interfaces: {},
        env: { KUBECACHE_ADVERTISE_URL: 'http://[fd00::5]:9000' },
        inCluster: false,
      }),
    ).toEqual({ host: 'fd00::5', port: 9000, source: 'env' });
  });

  it('ignores an empty KUBECACHE_ADVERTISE_URL', () => {
    const choice = pickAdvertiseHost({
      interfaces: devHost,
      podIP: '10.244.0.7',
      env: { KUBECACHE_ADVERTISE_URL: '' },
      inCluster: false,
    });
    expect(choice.source).toBe('pod-network');
  });

  it('rejects a malformed KUBECACHE_ADVERTISE_URL as BAD_OPTION', () => {
    for (const value of ['10.0.0.5:8080', 'https://10.0.0.5', 'http://10.0.0.5/path', 'nonsense']) {
      const err = thrown(() =>
        pickAdvertiseHost({
          interfaces: devHost,
          env: { KUBECACHE_ADVERTISE_URL: value },
          inCluster: false,
        }),
      );
      expect(isKubecacheError(err, 'BAD_OPTION'), value).toBe(true);
      expect(err.message).toContain('KUBECACHE_ADVERTISE_URL');
    }
  });

  it('in a cluster uses the downward-API pod IP', () => {
    expect(
      pickAdvertiseHost({
        interfaces: devHost,
        env: { POD_IP: '10.244.3.9' },
        inCluster: true,
      }),
    ).toEqual({ host: '10.244.3.9', source: 'in-cluster' });
    expect(
      pickAdvertiseHost({
        interfaces: devHost,
        env: { POD_IP: '10.244.3.9', KUBECACHE_POD_IP: '10.244.3.10' },
        inCluster: true,
      }).host,
    ).toBe('10.244.3.10');
  });

  it('in a cluster falls back to the first non-internal IPv4 address', () => {
    const pod: Interfaces = {
      ...loopback,
      eth0: [v6('fd00::9'), v4('10.244.1.5', '255.255.255.0')],
    };
    expect(pickAdvertiseHost({ interfaces: pod, env: {}, inCluster: true })).toEqual({
      host: '10.244.1.5',
      source: 'in-cluster',
    });
    const err = thrown(() => pickAdvertiseHost({ interfaces: loopback, env: {}, inCluster: true }));
    expect(isKubecacheError(err, 'UNREACHABLE')).toBe(true);
    expect(err.message).toMatch(/POD_IP/);
  });

  it('outside a cluster picks the interface whose subnet holds the pod', () => {
    expect(
      pickAdvertiseHost({ interfaces: devHost, podIP: '10.244.0.7', env: {}, inCluster: false }),
    ).toEqual({ host: '10.244.0.1', source: 'pod-network' });
    expect(
      pickAdvertiseHost({ interfaces: devHost, podIP: '172.17.3.4', env: {}, inCluster: false })
        .host,
    ).toBe('172.17.0.1');
  });

  it('prefers the most specific subnet', () => {
    const nested: Interfaces = {
      wide: [v4('10.0.0.1', '255.0.0.0')],
      narrow: [v4('10.244.0.1', '255.255.0.0')],
    };
    expect(
      pickAdvertiseHost({ interfaces: nested, podIP: '10.244.9.9', env: {}, inCluster: false })
        .host,
    ).toBe('10.244.0.1');
    expect(
      pickAdvertiseHost({ interfaces: nested, podIP: '10.3.0.1', env: {}, inCluster: false }).host,
    ).toBe('10.0.0.1');
  });

  it('never advertises loopback', () => {
    const err = thrown(() =>
      pickAdvertiseHost({ interfaces: loopback, podIP: '127.0.0.5', env: {}, inCluster: false }),
    );
    expect(isKubecacheError(err, 'UNREACHABLE')).toBe(true);
  });

  it('explains what to do when nothing matches', () => {
    const err = thrown(() =>
      pickAdvertiseHost({ interfaces: devHost, podIP: '100.64.0.3', env: {}, inCluster: false }),
    );
    expect(isKubecacheError(err, 'UNREACHABLE')).toBe(true);
    expect(err.message).toContain('100.64.0.3');
    expect(err.message).toContain('KUBECACHE_ADVERTISE_URL');
    expect(err.message).toContain('KUBECACHE_SEED_TRANSPORT=exec');
    expect(err.message).toContain('10.244.0.1/255.255.0.0');
  });

  it('needs an IPv4 pod IP outside a cluster', () => {
    for (const podIP of [undefined, 'fd00::7', 'not-an-ip']) {
      const err = thrown(() =>
        pickAdvertiseHost({ interfaces: devHost, podIP, env: {}, inCluster: false }),
      );
      expect(isKubecacheError(err, 'UNREACHABLE'), String(podIP)).toBe(true);
      expect(err.message).toContain('KUBECACHE_ADVERTISE_URL');
    }
  });
});

describe('parseIPv4', () => {
  it('parses dotted quads and rejects everything else', () => {
    expect(parseIPv4('10.244.0.1')).toBe(0x0af40001);
    expect(parseIPv4('255.255.255.255')).toBe(0xffffffff);
    for (const bad of ['256.0.0.1', '1.2.3', '1.2.3.4.5', '1.2.3.x', '', '::1', '1..2.3']) {
      expect(parseIPv4(bad), bad).toBeUndefined();
    }
  });
});
