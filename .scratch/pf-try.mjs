import { Redis } from 'ioredis';
import { Broker } from '/work/wt/chaos/dist/index.js';

const broker = await Broker.start({
  namespace: 'kc-chaos-x',
  kubeconfig: '/work/wt/chaos/.kubecache-dev/admin.kubeconfig',
  progress: (l) => console.log(l),
});
try {
  const lease = await broker.acquire({
    engine: 'redis',
    worker: '1',
    options: { endpoint: 'port-forward' },
  });
  console.log(lease.host, lease.port, lease.endpoint);
  const r = new Redis({ host: lease.host, port: lease.port });
  console.log(await r.ping());
  await new Promise((res) => setTimeout(res, 15000));
  console.log(await r.ping());
  r.disconnect();
} finally {
  await broker.teardown();
}
