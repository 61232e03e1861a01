import { describe, expect, it } from 'vitest';
import {
  brokerSteeringVars,
  ENV_BROKER_SEEDS,
  ENV_BROKER_TOKEN,
  ENV_BROKER_URL,
  isCI,
  knownEnvVars,
  publishVars,
  readAdvertiseUrl,
  readBrokerVars,
  readCI,
  readConfigPath,
  readEngineSeedVars,
  readKubeEnv,
  readPodIp,
  readPodName,
  readSeedBind,
  readWorkerId,
  unknownEnvWarnings,
  withoutBrokerVars,
} from '../../src/config/env.js';
import { ENGINE_NAMES } from '../../src/engines/types.js';
import { isKubecacheError } from '../../src/errors.js';

// src/config/env.ts is the one module that interprets environment variables;
// these pin down, for each reader, what an empty value, a missing one and two
// competing names mean.

describe('readBrokerVars', () => {
  const both = { [ENV_BROKER_URL]: 'http://127.0.0.1:1', [ENV_BROKER_TOKEN]: 't' };

  it('needs both the URL and the token; an empty one counts as missing', () => {
    expect(readBrokerVars({})).toBeUndefined();
    expect(readBrokerVars({ [ENV_BROKER_URL]: 'http://x' })).toBeUndefined();
    expect(readBrokerVars({ ...both, [ENV_BROKER_TOKEN]: '' })).toBeUndefined();
    expect(readBrokerVars({ ...both, [ENV_BROKER_URL]: '' })).toBeUndefined();
  });

  it('reads the seeds as JSON, and as none when missing or empty', () => {
    expect(readBrokerVars(both)).toEqual({ url: 'http://127.0.0.1:1', token: 't', seeds: {} });
    expect(readBrokerVars({ ...both, [ENV_BROKER_SEEDS]: '' })?.seeds).toEqual({});
    const seeds = { redis: { kind: 'rdb', path: '/f.rdb' } };
    expect(readBrokerVars({ ...both, [ENV_BROKER_SEEDS]: JSON.stringify(seeds) })?.seeds).toEqual(
      seeds,
    );
  });

  it('refuses seeds that are not JSON, naming the variable', () => {
    let caught: unknown;
    try {
      readBrokerVars({ ...both, [ENV_BROKER_SEEDS]: '{nope' });
    } catch (err) {
      caught = err;
    }
    expect(isKubecacheError(caught) && caught.code).toBe('BROKER');
    expect((caught as Error).message).toContain(ENV_BROKER_SEEDS);
  });

  it('withoutBrokerVars drops only the broker variables, and copies', () => {
    const env = { ...both, [ENV_BROKER_SEEDS]: '{}', KUBECACHE_NAMESPACE: 'ci', PATH: '/bin' };
    expect(withoutBrokerVars(env)).toEqual({ KUBECACHE_NAMESPACE: 'ci', PATH: '/bin' });
    expect(env[ENV_BROKER_URL]).toBe('http://127.0.0.1:1');
  });

  it('brokerSteeringVars keeps KUBECACHE_* but the broker ones, and KUBECONFIG, sorted', () => {
    const env = {
      ...both,
      KUBECONFIG: '/k',
      KUBECACHE_REUSE: '1',
      KUBECACHE_DAEMON: '',
      HOME: '/h',
    };
    expect(brokerSteeringVars(env)).toEqual([
      ['KUBECACHE_DAEMON', ''],
      ['KUBECACHE_REUSE', '1'],
      ['KUBECONFIG', '/k'],
    ]);
  });
});

describe('publishVars', () => {
  it('sets the values and puts back the earlier ones, deleting those that were unset', () => {
    const env: NodeJS.ProcessEnv = { A: 'before' };
    const restore = publishVars({ A: 'now', B: 'new' }, env);
    expect(env).toEqual({ A: 'now', B: 'new' });
    restore();
    expect(env).toEqual({ A: 'before' });
    expect('B' in env).toBe(false);
  });
});

describe('readConfigPath and readEngineSeedVars', () => {
  it('trims KUBECACHE_CONFIG and reads a blank one as unset', () => {
    expect(readConfigPath({})).toBeUndefined();
    expect(readConfigPath({ KUBECACHE_CONFIG: '   ' })).toBeUndefined();
    expect(readConfigPath({ KUBECACHE_CONFIG: ' ci/kubecache.config.json ' })).toBe(
      'ci/kubecache.config.json',
    );
  });

  it('reads KUBECACHE_<ENGINE>_SEED per engine, "none" as null, blank as unset', () => {
    expect(readEngineSeedVars({})).toEqual({});
    expect(
      readEngineSeedVars({
        KUBECACHE_REDIS_SEED: ' ./a.rdb ',
        KUBECACHE_VALKEY_SEED: 'none',
        KUBECACHE_MEMCACHED_SEED: '',
      }),
    ).toEqual({
      redis: { name: 'KUBECACHE_REDIS_SEED', path: './a.rdb' },
      valkey: { name: 'KUBECACHE_VALKEY_SEED', path: null },
    });
  });
});

describe('readWorkerId', () => {
  it('is "1" when the runner set nothing', () => {
    expect(readWorkerId({})).toBe('1');
    expect(readWorkerId({}, 'vitest')).toBe('1');
    expect(readWorkerId({}, 'jest')).toBe('1');
  });

  it("prefers Vitest's pool id over Jest's worker id, and each runner reads only its own", () => {
    const env = { VITEST_POOL_ID: '3', JEST_WORKER_ID: '5' };
    expect(readWorkerId(env)).toBe('3');
    expect(readWorkerId({ JEST_WORKER_ID: '5' })).toBe('5');
    expect(readWorkerId(env, 'vitest')).toBe('3');
    expect(readWorkerId(env, 'jest')).toBe('5');
    expect(readWorkerId({ JEST_WORKER_ID: '5' }, 'vitest')).toBe('1');
  });

  it('takes a value the runner set as it is, an empty one included', () => {
    // The runners set these themselves; kubecache never rewrites them.
    expect(readWorkerId({ VITEST_POOL_ID: '', JEST_WORKER_ID: '5' })).toBe('');
  });
});

describe('the pod the runner runs in', () => {
  it('readPodName: KUBECACHE_POD_NAME wins over POD_NAME and alone makes the lookup explicit', () => {
    expect(readPodName({})).toEqual({ explicit: false });
    expect(readPodName({ POD_NAME: 'p' })).toEqual({ name: 'p', explicit: false });
    expect(readPodName({ KUBECACHE_POD_NAME: 'k', POD_NAME: 'p' })).toEqual({
      name: 'k',
      explicit: true,
    });
  });

  it('readPodName: an empty variable is unset, so the next one counts', () => {
    expect(readPodName({ KUBECACHE_POD_NAME: '', POD_NAME: 'p' })).toEqual({
      name: 'p',
      explicit: false,
    });
    expect(readPodName({ KUBECACHE_POD_NAME: '', POD_NAME: '' })).toEqual({ explicit: false });
  });

  it('readPodIp: KUBECACHE_POD_IP, then POD_IP; empty ones are unset', () => {
    expect(readPodIp({})).toBeUndefined();
    expect(readPodIp({ POD_IP: '10.0.0.2' })).toBe('10.0.0.2');
    expect(readPodIp({ KUBECACHE_POD_IP: '10.0.0.1', POD_IP: '10.0.0.2' })).toBe('10.0.0.1');
    expect(readPodIp({ KUBECACHE_POD_IP: '', POD_IP: '10.0.0.2' })).toBe('10.0.0.2');
    expect(readPodIp({ KUBECACHE_POD_IP: '', POD_IP: '' })).toBeUndefined();
  });
});

describe('the seed route variables', () => {
  it('readAdvertiseUrl trims, and reads a blank value as unset', () => {
    expect(readAdvertiseUrl({})).toBeUndefined();
    expect(readAdvertiseUrl({ KUBECACHE_ADVERTISE_URL: ' ' })).toBeUndefined();
    expect(readAdvertiseUrl({ KUBECACHE_ADVERTISE_URL: ' http://10.0.0.5:8080 ' })).toBe(
      'http://10.0.0.5:8080',
    );
  });

  it('readSeedBind reads an empty value as unset', () => {
    expect(readSeedBind({})).toBeUndefined();
    expect(readSeedBind({ KUBECACHE_SEED_BIND: '' })).toBeUndefined();
    expect(readSeedBind({ KUBECACHE_SEED_BIND: '0.0.0.0' })).toBe('0.0.0.0');
  });
});

describe('readKubeEnv', () => {
  it('reads nothing from an empty environment, and empty values as unset', () => {
    expect(readKubeEnv({})).toEqual({ kubeconfigFiles: [], inCluster: false });
    expect(readKubeEnv({ KUBECONFIG: '', HOME: '', KUBERNETES_SERVICE_HOST: '' })).toEqual({
      kubeconfigFiles: [],
      inCluster: false,
    });
  });

  it('lists the files of KUBECONFIG in order, skipping empty entries', () => {
    expect(readKubeEnv({ KUBECONFIG: '/a::/b:' })).toEqual({
      kubeconfig: '/a::/b:',
      kubeconfigFiles: ['/a', '/b'],
      inCluster: false,
    });
  });

  it('reads HOME and the service host of a pod', () => {
    expect(readKubeEnv({ HOME: '/home/ci', KUBERNETES_SERVICE_HOST: '10.96.0.1' })).toEqual({
      home: '/home/ci',
      kubeconfigFiles: [],
      inCluster: true,
    });
  });
});

describe('readCI', () => {
  it('gives the value when it marks a CI job, undefined for empty, 0 and false', () => {
    expect(readCI({})).toBeUndefined();
    expect(readCI({ CI: '' })).toBeUndefined();
    expect(readCI({ CI: '0' })).toBeUndefined();
    expect(readCI({ CI: 'FALSE' })).toBeUndefined();
    expect(readCI({ CI: 'true' })).toBe('true');
    expect(readCI({ CI: ' 1 ' })).toBe('1');
    expect(isCI({ CI: 'woodpecker' })).toBe(true);
  });
});

describe('knownEnvVars', () => {
  it('knows the per-engine variables of every engine, valkey included', () => {
    const known = knownEnvVars();
    for (const engine of ENGINE_NAMES) {
      const prefix = `KUBECACHE_${engine.toUpperCase()}_`;
      expect(known).toContain(`${prefix}IMAGE`);
      expect(known).toContain(`${prefix}SEED`);
    }
    expect(unknownEnvWarnings({ KUBECACHE_VALKEY_IMAGE: 'valkey/valkey:9' })).toEqual([]);
  });
});
