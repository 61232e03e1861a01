import { KubecacheError } from '../errors.js';

// Imported first by the runner-side entry points: @kubernetes/client-node
// 2.x and its undici need Node 22.19, and on older Nodes they fail while
// loading with "Cannot read properties of undefined (reading 'bind')".

export const MIN_NODE = '22.19.0';

function parts(version: string): [number, number, number] {
  const [major = 0, minor = 0, patch = 0] = version
    .replace(/^v/, '')
    .split('.')
    .map((p) => Number.parseInt(p, 10) || 0);
  return [major, minor, patch];
}

/** Whether `version` (e.g. process.version) is at least MIN_NODE. */
export function nodeIsSupported(version: string): boolean {
  const have = parts(version);
  const need = parts(MIN_NODE);
  for (let i = 0; i < 3; i++) {
    if ((have[i] ?? 0) !== (need[i] ?? 0)) return (have[i] ?? 0) > (need[i] ?? 0);
  }
  return true;
}

export function checkNodeVersion(version: string = process.version): void {
  if (nodeIsSupported(version)) return;
  throw new KubecacheError(
    'UNSUPPORTED_NODE',
    `kubecache needs Node ${MIN_NODE} or later, and this test run uses Node ${version.replace(/^v/, '')}. ` +
      'Its Kubernetes client (@kubernetes/client-node) does not load on older versions. ' +
      'Run the tests with Node 22.19+ or 24 (e.g. `nvm install 24`, or `node-version: 24` in actions/setup-node).',
    { node: version, minimum: MIN_NODE },
  );
}

checkNodeVersion();
