import { Redis } from 'ioredis';
import { Broker } from '/work/wt/chaos/dist/index.js';
import { startPortForward } from '/work/wt/chaos/dist/kube/port-forward.js';

const broker = await Broker.start({
  namespace: 'kc-chaos-x',
  kubeconfig: '/work/wt/chaos/.kubecache-dev/admin.kubeconfig',
  progress: () => {},
});
try {
  const lease = await broker.acquire({
    engine: 'redis',
    worker: '1',
    options: { endpoint: 'pod-ip' },
  });
  const fwd = await startPortForward(broker.handle, lease.podName, 6379);
  const r = new Redis({ host: fwd.host, port: fwd.port });
  console.log(await r.ping(), fwd.health());
  await new Promise((res) => setTimeout(res, 15000));
  console.log(await r.ping(), fwd.health());
  const bad = await startPortForward(broker.handle, lease.podName, 6390);
  const r2 = new Redis({
    host: bad.host,
    port: bad.port,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  r2.on('error', (e) => console.log('r2 error', e.message.slice(0, 200)));
  await r2.ping().catch((e) => console.log('r2 ping', e.message));
  r.disconnect();
  await fwd.close();
  await bad.close();
} finally {
  await broker.teardown();
}
